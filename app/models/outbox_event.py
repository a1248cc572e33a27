from typing import Any

from sqlalchemy import BigInteger, Identity
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin


class OutboxEvent(CreatedAtMixin, Base):
    """What one sequencer group committed (books, fills, orders), written in the group's own
    transaction: the relay publishes it to NATS JetStream, so a crash between the commit and
    the publication loses nothing. `id` is the global event sequence (one writer)."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
