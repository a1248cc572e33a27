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


class ChainDeposit(IdMixin, CreatedAtMixin, Base):
    """Funds that arrived at a deposit address in a finalized block, keyed by (block hash,
    event index): recorded exactly once. `credited` moved custody -> the user's available in
    the same transaction; the other states were recorded without a credit (below the
    minimum, a retired address, alpha of a subnet without a listed asset) and wait for an
    admin (`credited_by`)."""

    __tablename__ = "chain_deposits"
    __table_args__ = (
        UniqueConstraint("block_hash", "event_index", name="uq_chain_deposits_block_event"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "state IN ('credited','below_minimum','retired_address','unlisted_asset')",
            name="known_state",
        ),
        CheckConstraint("(state = 'credited') = (transfer_id IS NOT NULL)", name="credited"),
        Index("ix_chain_deposits_user_id_id", "user_id", "id"),
        Index("ix_chain_deposits_state", "state"),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    deposit_address_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("deposit_addresses.id"))
    address: Mapped[str] = mapped_column(String(64))
    asset: Mapped[str | None] = mapped_column(String(16), ForeignKey("assets.code"))
    netuid: Mapped[int | None] = mapped_column(Integer)  # alpha: its subnet; TAO: null
    hotkey: Mapped[str | None] = mapped_column(String(64))  # alpha: the stake's hotkey
    sender: Mapped[str | None] = mapped_column(String(64))  # the extrinsic's signer
    amount: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    event_index: Mapped[int] = mapped_column(Integer)
    extrinsic_index: Mapped[int] = mapped_column(Integer)
    extrinsic_hash: Mapped[str | None] = mapped_column(String(66))
    state: Mapped[str] = mapped_column(String(16))
    transfer_id: Mapped[str | None] = mapped_column(String(100))
    credited_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    credited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
