from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class AuditEntry(IdMixin, CreatedAtMixin, Base):
    """Append-only record of admin (and automatic) actions: who, when, what, before, after.
    `actor_user_id` is null for actions the system took by itself (e.g. a retired subnet)."""

    __tablename__ = "audit_log"

    actor_user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    actor_key_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("api_keys.id"))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reason: Mapped[str | None] = mapped_column(Text)
