from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin


class LedgerHold(CreatedAtMixin, Base):
    """Funds reserved from `available` into `held` (a two-phase transfer). Transfers that
    reference the hold consume it (`consumed`), the remainder returns to `available` when it
    is resolved (`released`), exactly once: posted or voided. The CHECKs make over-consumption
    impossible, and a trigger (see the migration) makes a resolved hold immutable. Its accounts
    are its user's `held` and `available` of its asset, checked once per statement by a
    trigger (migration 0021), not per row by foreign keys."""

    __tablename__ = "ledger_holds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("consumed >= 0 AND released >= 0", name="counters_non_negative"),
        CheckConstraint("consumed + released <= amount", name="not_over_consumed"),
        CheckConstraint("state IN ('pending','posted','voided')", name="known_state"),
        CheckConstraint("(state = 'pending') = (resolved_at IS NULL)", name="resolved_at_state"),
        CheckConstraint("state = 'pending' OR consumed + released = amount", name="resolved_fully"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    asset: Mapped[str] = mapped_column(String(16))
    # The `held` account that holds the funds and the `available` account they return to.
    account_id: Mapped[int] = mapped_column(BigInteger)
    available_account_id: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    consumed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    released: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    reference: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
