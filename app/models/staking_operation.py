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
    """One `move_stake` the stake manager plans so that the custody positions match users'
    allocations (`app.custody.stake_manager`).

    planned -> sending (a chain transaction carries it) -> executed | failed | expired
    planned -> superseded (a newer plan replaced it before it was sent)
    `moved` is what the chain moved (it caps a move at the stake held)."""

    __tablename__ = "staking_operations"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "status IN ('planned', 'sending', 'executed', 'failed', 'expired', 'superseded')",
            name="known_status",
        ),
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
    moved: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(String(200))
