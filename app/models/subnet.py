from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin

U128 = Numeric(39, 0)


class Subnet(IdMixin, Base):
    """One subnet token: a netuid as registered at one block. A netuid reused after a
    deregistration is a new row (a different token); the old one is `retired`."""

    __tablename__ = "subnets"
    __table_args__ = (UniqueConstraint("netuid", "registered_at"),)

    netuid: Mapped[int] = mapped_column(Integer, index=True)
    registered_at: Mapped[int] = mapped_column(BigInteger)  # NetworkRegisteredAt (block)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | retired
    symbol: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    identity: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    owner_coldkey: Mapped[str] = mapped_column(String(64))
    owner_hotkey: Mapped[str] = mapped_column(String(64))
    mechanism: Mapped[int] = mapped_column(SmallInteger)
    tempo: Mapped[int] = mapped_column(Integer)
    tao_in: Mapped[int] = mapped_column(BigInteger)
    alpha_in: Mapped[int] = mapped_column(BigInteger)
    alpha_out: Mapped[int] = mapped_column(BigInteger)
    price_rao: Mapped[int] = mapped_column(BigInteger)  # spot, rao per whole alpha
    moving_price_bits: Mapped[int] = mapped_column(U128)  # I96F32 bits
    volume: Mapped[int] = mapped_column(U128)
    tao_in_emission: Mapped[int] = mapped_column(BigInteger)
    alpha_in_emission: Mapped[int] = mapped_column(BigInteger)
    alpha_out_emission: Mapped[int] = mapped_column(BigInteger)
    fee_rate: Mapped[int] = mapped_column(Integer)
    # Swap::SwapBalancer: the quote (TAO) weight w2, Perquintill parts; alpha's is 1 - w2
    quote_weight: Mapped[int] = mapped_column(BigInteger)
    # The epoch scheduler (LastEpochBlock, PendingEpochAt (0: none), SubnetEpochIndex).
    last_epoch_block: Mapped[int] = mapped_column(BigInteger, server_default="0")
    pending_epoch_at: Mapped[int] = mapped_column(BigInteger, server_default="0")
    epoch_index: Mapped[int] = mapped_column(BigInteger, server_default="0")
    excess_tao: Mapped[int] = mapped_column(BigInteger, server_default="0")  # SubnetExcessTao
    registration_cost: Mapped[int] = mapped_column(BigInteger, server_default="0")  # Burn
    subtoken_enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    transfer_enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    first_seen_block: Mapped[int] = mapped_column(BigInteger)
    last_block: Mapped[int] = mapped_column(BigInteger)
    retired_at_block: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
