from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class DepositAddress(IdMixin, CreatedAtMixin, Base):
    """A user's deposit address: `<custody uri>//deposit/<user_id>/<index>`, soft-derived from
    the deposit root's public key. One address takes TAO and every subnet's alpha.

    `sweep_pending`: funds arrived since the sweeper last emptied it. A retired address still
    receives (the chain cannot refuse), but what arrives is recorded, not credited."""

    __tablename__ = "deposit_addresses"
    __table_args__ = (
        UniqueConstraint("user_id", "index", name="uq_deposit_addresses_user_index"),
        CheckConstraint("status IN ('active','retired')", name="known_status"),
        CheckConstraint("index >= 0", name="index_non_negative"),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    index: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    sweep_pending: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
