from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, LargeBinary, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class ApiKey(IdMixin, CreatedAtMixin, Base):
    """An API key. The secret is stored encrypted with the server key, never in plain text."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("last_nonce >= 0", name="nonce_non_negative"),
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
    # Highest nonce accepted so far; a request must carry a strictly greater one.
    last_nonce: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
