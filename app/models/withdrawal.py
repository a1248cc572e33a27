from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin

OPEN_STATES = ("pending_approval", "queued", "sending")
RESOLVED_STATES = ("completed", "failed", "rejected", "cancelled")


class Withdrawal(IdMixin, CreatedAtMixin, Base):
    """A withdrawal to a named address of the user's address book, paid out on chain.

    pending_approval -(admin)-> queued -(signer)-> sending -(finalized)-> completed
           |                      |                   |-> queued (expired era, capped amount
           v                      v                   |          or a retriable failure)
        rejected              cancelled               |-> failed (the hold is voided)

    The hold (`amount` + `fee_reserve`) is placed when it is requested; `sent` is what
    reached the destination so far, `fee` the chain fee charged to the user."""

    __tablename__ = "withdrawals"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "state IN ('pending_approval','queued','sending','completed','failed','rejected',"
            "'cancelled')",
            name="known_state",
        ),
        CheckConstraint(
            "(state IN ('completed','failed','rejected','cancelled')) = (resolved_at IS NOT NULL)",
            name="resolved_at_state",
        ),
        CheckConstraint(
            "state <> 'completed' OR external_tx_ref IS NOT NULL", name="completed_has_tx_ref"
        ),
        CheckConstraint("sent >= 0 AND sent <= amount", name="sent_within_amount"),
        CheckConstraint("fee >= 0 AND fee <= fee_reserve", name="fee_within_reserve"),
        UniqueConstraint("user_id", "idempotency_key", name="uq_withdrawals_idempotency_key"),
        Index("ix_withdrawals_user_id_id", "user_id", "id"),
        Index("ix_withdrawals_state", "state"),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    asset: Mapped[str] = mapped_column(String(16), ForeignKey("assets.code"))
    netuid: Mapped[int | None] = mapped_column(Integer)  # alpha: its subnet
    amount: Mapped[int] = mapped_column(BigInteger)
    address_name: Mapped[str | None] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    hold_id: Mapped[str] = mapped_column(String(64), ForeignKey("ledger_holds.id"), unique=True)
    fee_reserve: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    fee: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    sent: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    external_tx_ref: Mapped[str | None] = mapped_column(String(128))  # the last extrinsic hash
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(500))
    approved_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
