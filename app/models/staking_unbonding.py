from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class StakingUnbonding(IdMixin, CreatedAtMixin, Base):
    """A deallocation waiting out the market's unbonding period. The alpha stays in the
    user's `staked` account (earning nothing) until `release_block` is indexed."""

    __tablename__ = "staking_unbondings"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("state IN ('pending', 'released')", name="known_state"),
        Index(
            "ix_staking_unbondings_pending",
            "release_block",
            postgresql_where=text("state = 'pending'"),
        ),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="RESTRICT"))
    market_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("markets.id"))
    subnet_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subnets.id"))
    asset: Mapped[str] = mapped_column(String(16), ForeignKey("assets.code"))
    hotkey: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    requested_block: Mapped[int] = mapped_column(BigInteger)
    release_block: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), server_default="pending")
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
