from sqlalchemy import BigInteger, CheckConstraint, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class OutboxRelayState(Base):
    """How far the relay has published the outbox (one row): events up to `relayed_id` are
    in JetStream. Publishing again past it after a crash is harmless: every message carries
    a deduplication id."""

    __tablename__ = "outbox_relay_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    relayed_id: Mapped[int] = mapped_column(BigInteger)
