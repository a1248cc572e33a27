from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin

ALLOCATION_EVENT_KINDS = ("allocate", "deallocate", "reward", "release")


class StakingAllocationEvent(IdMixin, CreatedAtMixin, Base):
    """Every change of an allocation, stamped with the last indexed block (append-only).

    Rewards are time-weighted from these: an event at block b counts from b+1 on."""

    __tablename__ = "staking_allocation_events"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('allocate', 'deallocate', 'reward', 'release')", name="known_kind"
        ),
        CheckConstraint("delta <> 0", name="delta_non_zero"),
        Index("ix_staking_allocation_events_period", "subnet_id", "hotkey", "block_number"),
        Index("ix_staking_allocation_events_user", "user_id", "id"),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="RESTRICT"))
    subnet_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subnets.id"))
    hotkey: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    delta: Mapped[int] = mapped_column(BigInteger)  # alpha-rao, negative when it shrinks
    block_number: Mapped[int] = mapped_column(BigInteger)
    transfer_id: Mapped[str | None] = mapped_column(String(100))
