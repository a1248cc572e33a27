from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class PorNode(Base):
    """One node of an audit's liabilities tree: `level` 0 are the leaves (one per user, with
    the user's salt), each level above pairs the one below. `sums` are the per-asset sums in
    the tree's encoding (u128 big-endian per asset, in the audit's asset order). Kept so that
    a user's path is a handful of rows; the salts never leave except to their user."""

    __tablename__ = "por_nodes"
    __table_args__ = (
        CheckConstraint("level >= 0 AND position >= 0", name="non_negative_place"),
        CheckConstraint(
            "(level = 0) = (user_id IS NOT NULL AND salt IS NOT NULL)", name="leaves_have_users"
        ),
        CheckConstraint("octet_length(hash) = 32", name="hash_length"),
        Index(
            "uq_por_nodes_audit_user",
            "audit_id",
            "user_id",
            unique=True,
            postgresql_where=text("user_id IS NOT NULL"),
        ),
    )

    audit_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("por_audits.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary)
    sums: Mapped[bytes] = mapped_column(LargeBinary)
    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    salt: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A leaf's balances per asset and kind (available, held, staked, pending withdrawals):
    # shown to its user beside the proof, not part of the hashed leaf.
    breakdown: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
