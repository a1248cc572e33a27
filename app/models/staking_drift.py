from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class StakingDrift(Base):
    """A custody position whose stake on chain differs from what it should hold (users'
    allocations; plus the float under the exchange's own hotkey), counting what is in flight,
    by at least the chain's smallest stake move: since which block, by how much. The stake
    manager keeps it (a row per position that differs now); the reconciliation reads it."""

    __tablename__ = "staking_drift"

    subnet_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("subnets.id", ondelete="CASCADE"), primary_key=True
    )
    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    netuid: Mapped[int] = mapped_column(Integer)
    since_block: Mapped[int] = mapped_column(BigInteger)
    difference: Mapped[int] = mapped_column(BigInteger)
    checked_block: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
