import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class StakingOperation(IdMixin, CreatedAtMixin, Base):
    """One `move_stake` an operator should execute so the custody positions match users'
    allocations. A new plan supersedes the planned operations of the previous one."""

    __tablename__ = "staking_operations"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('planned', 'executed', 'superseded')", name="known_status"),
        Index("ix_staking_operations_plan", "plan_id"),
    )

    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    subnet_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subnets.id"))
    netuid: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(16), server_default="move_stake")
    origin_hotkey: Mapped[str] = mapped_column(String(64))
    destination_hotkey: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), server_default="planned")
    based_on_block: Mapped[int] = mapped_column(BigInteger)
    executed_block: Mapped[int | None] = mapped_column(BigInteger)
    executed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
