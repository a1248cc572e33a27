from datetime import date

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, PrimaryKeyConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class UserVolume(Base):
    """A user's traded quote volume (rao) per UTC day, both sides of every fill counted for
    their user, kept by the order store as fills are written: the fee tiers read the sum of
    the last 30 days."""

    __tablename__ = "user_volume_daily"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "day"),
        CheckConstraint("quote >= 0", name="quote_non_negative"),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    day: Mapped[date] = mapped_column(Date)
    quote: Mapped[int] = mapped_column(BigInteger)
