from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class IndexerState(Base):
    """Where the indexer is: one row, written in the same transaction as each snapshot."""

    __tablename__ = "indexer_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    chain: Mapped[str] = mapped_column(String(128))
    last_block: Mapped[int] = mapped_column(BigInteger)
    last_block_hash: Mapped[str] = mapped_column(String(66))
    head_block: Mapped[int] = mapped_column(BigInteger)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # TaoWeight at the last block (u64 parts of u64::MAX): sets each subnet's root proportion.
    tao_weight: Mapped[int] = mapped_column(Numeric(20, 0), server_default="0")
