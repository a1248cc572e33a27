from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class Deposit(IdMixin, CreatedAtMixin, Base):
    """A credited deposit. Until on-chain deposits exist, an admin records them; the external
    reference (e.g. a transaction hash) makes the call idempotent."""

    __tablename__ = "deposits"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), index=True)
    asset: Mapped[str] = mapped_column(String(16), ForeignKey("assets.code"))
    amount: Mapped[int] = mapped_column(BigInteger)
    external_ref: Mapped[str] = mapped_column(String(128), unique=True)
    transfer_id: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
