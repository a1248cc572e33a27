from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class Withdrawal(IdMixin, CreatedAtMixin, Base):
    """pending -> approved (hold posted to custody) | rejected | cancelled (hold voided)."""

    __tablename__ = "withdrawals"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "state IN ('pending','approved','rejected','cancelled')", name="known_state"
        ),
        CheckConstraint("(state = 'pending') = (resolved_at IS NULL)", name="resolved_at_state"),
        CheckConstraint(
            "state <> 'approved' OR external_tx_ref IS NOT NULL", name="approved_has_tx_ref"
        ),
        Index("ix_withdrawals_user_id_id", "user_id", "id"),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    asset: Mapped[str] = mapped_column(String(16), ForeignKey("assets.code"))
    amount: Mapped[int] = mapped_column(BigInteger)
    destination: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    hold_id: Mapped[str] = mapped_column(String(64), ForeignKey("ledger_holds.id"), unique=True)
    external_tx_ref: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(500))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
