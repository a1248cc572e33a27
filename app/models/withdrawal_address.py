from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class WithdrawalAddress(IdMixin, CreatedAtMixin, Base):
    """A user's address book entry: withdrawals name it (Kraken's withdrawal `key`). Usable
    from `unlocks_at` on; `asset` null means any asset."""

    __tablename__ = "withdrawal_addresses"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_withdrawal_addresses_name"),)

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    asset: Mapped[str | None] = mapped_column(String(16), ForeignKey("assets.code"))
    unlocks_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
