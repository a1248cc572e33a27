from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class Listing(IdMixin, CreatedAtMixin, Base):
    """A subnet token's listing review: candidate -> approved | rejected (-> candidate)."""

    __tablename__ = "listings"
    __table_args__ = (
        CheckConstraint("state IN ('candidate', 'approved', 'rejected')", name="known_state"),
    )

    subnet_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("subnets.id", ondelete="RESTRICT"), unique=True
    )
    netuid: Mapped[int] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(16), default="candidate", index=True)
    reason: Mapped[str | None] = mapped_column(Text)  # of the last rejection or override
    market_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("markets.id"))
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
