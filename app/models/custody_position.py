from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

# U64F64 shares (bits / 2^64) and mantissa * 10^exponent are finite decimals: stored exactly
# in an unconstrained NUMERIC.
SHARES = Numeric()


class CustodyPosition(Base):
    """The exchange's stake with a hotkey on a subnet, per indexed block (append-only).

    `stake` is what the position is worth in alpha-rao at that block; the staking issue
    computes rewards from its growth."""

    __tablename__ = "custody_positions"

    subnet_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("subnets.id", ondelete="CASCADE"), primary_key=True
    )
    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    coldkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    stake: Mapped[int] = mapped_column(BigInteger)
    shares: Mapped[Decimal] = mapped_column(SHARES)
    total_shares: Mapped[Decimal] = mapped_column(SHARES)
    total_alpha: Mapped[int] = mapped_column(BigInteger)
