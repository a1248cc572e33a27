import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    String,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin


class LedgerTransfer(CreatedAtMixin, Base):
    """An immutable movement of `amount` from the debit account to the credit account (same
    asset, enforced by the composite foreign keys). `id` is the caller's idempotency key;
    `seq` orders the journal (statement cursors)."""

    __tablename__ = "ledger_transfers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        ForeignKeyConstraint(
            ["debit_account_id", "asset"],
            ["ledger_accounts.id", "ledger_accounts.asset"],
            name="fk_ledger_transfers_debit_account_id_ledger_accounts",
        ),
        ForeignKeyConstraint(
            ["credit_account_id", "asset"],
            ["ledger_accounts.id", "ledger_accounts.asset"],
            name="fk_ledger_transfers_credit_account_id_ledger_accounts",
        ),
        Index("ix_ledger_transfers_debit_seq", "debit_account_id", "seq"),
        Index("ix_ledger_transfers_credit_seq", "credit_account_id", "seq"),
        Index(
            "ix_ledger_transfers_hold_id",
            "hold_id",
            postgresql_where=text("hold_id IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity())
    debit_account_id: Mapped[int] = mapped_column(BigInteger)
    credit_account_id: Mapped[int] = mapped_column(BigInteger)
    asset: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(128))
    hold_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("ledger_holds.id"))
    batch_id: Mapped[uuid.UUID] = mapped_column(Uuid)
