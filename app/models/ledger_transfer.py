import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Identity,
    Index,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin


class LedgerTransfer(CreatedAtMixin, Base):
    """An immutable movement of `amount` from the debit account to the credit account (same
    asset). `id` is the caller's idempotency key; `seq` orders the journal (statement
    cursors). Its references (both accounts, of its asset, and its hold) are checked once
    per statement by a trigger (migration 0021), not per row by foreign keys."""

    __tablename__ = "ledger_transfers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        Index("ix_ledger_transfers_debit_seq", "debit_account_id", "seq"),
        Index("ix_ledger_transfers_credit_seq", "credit_account_id", "seq"),
    )

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity())
    debit_account_id: Mapped[int] = mapped_column(BigInteger)
    credit_account_id: Mapped[int] = mapped_column(BigInteger)
    asset: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(128))
    hold_id: Mapped[str | None] = mapped_column(String(64))
    batch_id: Mapped[uuid.UUID] = mapped_column(Uuid)
