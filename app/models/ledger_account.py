from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin

USER_KINDS = ("available", "held", "staked")
SYSTEM_KINDS = ("custody", "fees", "rounding", "network_fees")


class LedgerAccount(IdMixin, CreatedAtMixin, Base):
    """One balance per (owner, asset, kind). Balances are credit-normal: a transfer's credit
    increases, its debit decreases, so per asset the sum of all balances is zero. Only system
    accounts (no owner) may go negative (custody mirrors on-chain holdings; network_fees
    accumulates the chain fees the exchange paid itself, a cost)."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint("allow_negative OR balance >= 0", name="non_negative"),
        CheckConstraint(
            "kind IN ('available','held','staked','custody','fees','rounding','network_fees')",
            name="known_kind",
        ),
        CheckConstraint(
            "(user_id IS NULL) = (kind IN ('custody','fees','rounding','network_fees'))",
            name="system_kinds",
        ),
        CheckConstraint("NOT allow_negative OR user_id IS NULL", name="only_system_negative"),
        UniqueConstraint("user_id", "asset", "kind", name="uq_ledger_accounts_owner_asset_kind"),
        Index(
            "uq_ledger_accounts_system",
            "asset",
            "kind",
            unique=True,
            postgresql_where=text("user_id IS NULL"),
        ),
    )

    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="RESTRICT")
    )
    asset: Mapped[str] = mapped_column(String(16), ForeignKey("assets.code"))
    kind: Mapped[str] = mapped_column(String(16))
    balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    allow_negative: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
