from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class CancelAfter(Base):
    """A dead man's switch, per API key: when `deadline` passes without being pushed back,
    every open order of the key's user is cancelled (the row is then deleted)."""

    __tablename__ = "cancel_after"
    __table_args__ = (Index("ix_cancel_after_deadline", "deadline"),)

    api_key_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
