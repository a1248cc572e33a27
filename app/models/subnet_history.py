from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Numeric
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class SubnetHistory(Base):
    """Append-only pool state per indexed block. The key makes re-indexing a no-op."""

    __tablename__ = "subnet_history"
    # Price change and volume per interval look a subnet's history up by time.
    __table_args__ = (Index("ix_subnet_history_subnet_id_block_time", "subnet_id", "block_time"),)

    subnet_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("subnets.id", ondelete="CASCADE"), primary_key=True
    )
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tao_in: Mapped[int] = mapped_column(BigInteger)
    alpha_in: Mapped[int] = mapped_column(BigInteger)
    alpha_out: Mapped[int] = mapped_column(BigInteger)
    price_rao: Mapped[int] = mapped_column(BigInteger)
    moving_price_bits: Mapped[int] = mapped_column(Numeric(39, 0))
    volume: Mapped[int] = mapped_column(Numeric(39, 0))
    tao_in_emission: Mapped[int] = mapped_column(BigInteger)
    alpha_in_emission: Mapped[int] = mapped_column(BigInteger)
    alpha_out_emission: Mapped[int] = mapped_column(BigInteger)
    # The chain's epoch schedule at this block (SubnetEpochIndex, LastEpochBlock): rewards and
    # the APR are keyed by the epoch index, never by a formula of the block number.
    epoch_index: Mapped[int] = mapped_column(BigInteger, server_default="0")
    last_epoch_block: Mapped[int] = mapped_column(BigInteger, server_default="0")
