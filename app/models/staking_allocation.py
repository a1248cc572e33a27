from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class StakingAllocation(IdMixin, CreatedAtMixin, Base):
    """How much of a user's `staked` alpha backs one validator hotkey (alpha-rao).

    The ledger's `staked` account is per (user, asset); this table is its split per
    validator: per (user, asset) the amounts here plus pending unbondings equal that balance.
    """

    __tablename__ = "staking_allocations"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        UniqueConstraint("user_id", "subnet_id", "hotkey", name="uq_staking_allocations_owner"),
        Index("ix_staking_allocations_subnet_hotkey", "subnet_id", "hotkey"),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="RESTRICT"))
    market_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("markets.id"))
    subnet_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subnets.id"))
    asset: Mapped[str] = mapped_column(String(16), ForeignKey("assets.code"))
    hotkey: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
