from sqlalchemy import CheckConstraint, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin


class Asset(CreatedAtMixin, Base):
    """A currency the ledger knows: TAO, and one alpha per listed subnet (e.g. `SN64`)."""

    __tablename__ = "assets"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'disabled')", name="known_status"),
        CheckConstraint("decimals BETWEEN 0 AND 18", name="decimals_range"),
        CheckConstraint("code ~ '^[A-Z0-9]{1,16}$'", name="code_format"),
    )

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    netuid: Mapped[int | None] = mapped_column(Integer)
    decimals: Mapped[int] = mapped_column(SmallInteger, default=9, server_default="9")
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
