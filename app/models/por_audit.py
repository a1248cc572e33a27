from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class PorAudit(IdMixin, CreatedAtMixin, Base):
    """A proof-of-reserves audit at one finalized block: the liabilities' Merkle sum tree
    root, and `document`, exactly what is published (`GET /v1/proof-of-reserves`): totals,
    reserves with their chain evidence, coverage and the custody keys' signatures."""

    __tablename__ = "por_audits"
    __table_args__ = (CheckConstraint("leaf_count >= 1", name="leaf_count_positive"),)

    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    root: Mapped[str] = mapped_column(String(66))
    leaf_count: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
