from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin

OPEN_STATES = ("signed", "broadcast")


class ChainTransaction(IdMixin, CreatedAtMixin, Base):
    """An extrinsic the exchange signed, recorded (signer, nonce, era, hash, bytes) BEFORE it
    is broadcast.

    signed -> broadcast -> success | failed   (found in a finalized block by the scanner)
                        -> expired            (its era ended with no finalized inclusion:
                                               dead, so its work may be signed again)
    At most one open (signed or broadcast) transaction per signer: its nonce is the signer's
    nonce at the finalized head, so two can never compete for one nonce."""

    __tablename__ = "chain_transactions"
    __table_args__ = (
        CheckConstraint(
            "state IN ('signed','broadcast','success','failed','expired')", name="known_state"
        ),
        CheckConstraint(
            "purpose IN ('withdrawal','sweep','topup','stake_move')", name="known_purpose"
        ),
        Index(
            "uq_chain_transactions_open_signer",
            "signer",
            unique=True,
            postgresql_where=text("state IN ('signed','broadcast')"),
        ),
        Index("ix_chain_transactions_state", "state"),
        Index("ix_chain_transactions_withdrawal_id", "withdrawal_id"),
        Index("ix_chain_transactions_operation_id", "operation_id"),
    )

    purpose: Mapped[str] = mapped_column(String(16))
    withdrawal_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("withdrawals.id"))
    deposit_address_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("deposit_addresses.id")
    )
    operation_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("staking_operations.id")
    )
    signer: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[int] = mapped_column(BigInteger)
    era_birth: Mapped[int] = mapped_column(BigInteger)
    era_period: Mapped[int] = mapped_column(Integer)
    pallet: Mapped[str] = mapped_column(String(32))
    call: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSONB)
    asset: Mapped[str | None] = mapped_column(String(16))
    netuid: Mapped[int | None] = mapped_column(Integer)
    hotkey: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    extrinsic: Mapped[str] = mapped_column(Text)
    extrinsic_hash: Mapped[str] = mapped_column(String(66), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="signed", server_default="signed")
    submit_error: Mapped[str | None] = mapped_column(String(500))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    extrinsic_index: Mapped[int | None] = mapped_column(Integer)
    fee: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    fee_alpha: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    delivered: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    dispatch_error: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def death(self) -> int:
        """The first block that can no longer include it."""
        return self.era_birth + self.era_period
