from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class ApiKey(IdMixin, CreatedAtMixin, Base):
    """An API key. The secret is stored encrypted with the server key, never in plain text."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("nonce_window_ms BETWEEN 0 AND 86400000", name="nonce_window_range"),
        CheckConstraint(
            "scopes <@ ARRAY['read','trade','withdraw','admin']::varchar[]", name="known_scopes"
        ),
    )

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(64), unique=True)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    label: Mapped[str | None] = mapped_column(String(200))
    # A request's nonce must be above the key's highest nonce (`api_key_nonces`) less the
    # window, and not used before.
    nonce_window_ms: Mapped[int] = mapped_column(Integer, default=10_000, server_default="10000")
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKeyNonce(Base):
    """A nonce accepted with a key within its window (as a time in ns,
    `app.auth.service.nonce_time`): accepted once. Rows the window has passed are pruned (the
    window refuses those nonces anyway); the key's highest stays. Its key is not a foreign
    key (a check and a lock per nonce, on the order path): the one statement that inserts
    nonces (`NonceWrite`) reads their keys, and keys are never deleted."""

    __tablename__ = "api_key_nonces"
    __table_args__ = (PrimaryKeyConstraint("api_key_id", "nonce"),)

    api_key_id: Mapped[int] = mapped_column(BigInteger)
    nonce: Mapped[int] = mapped_column(BigInteger)
