from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Integer, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

DEFAULT_COMMISSION_BPS = 1000  # 10% of rewards to the exchange
DEFAULT_UNBONDING_BLOCKS = 0  # deallocations return alpha at once


class StakingSettings(Base):
    """Per-market staking parameters; a market without a row uses the defaults above."""

    __tablename__ = "staking_settings"
    __table_args__ = (
        CheckConstraint("commission_bps BETWEEN 0 AND 10000", name="commission_range"),
        CheckConstraint("unbonding_blocks >= 0", name="unbonding_non_negative"),
    )

    market_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("markets.id", ondelete="CASCADE"), primary_key=True
    )
    commission_bps: Mapped[int] = mapped_column(Integer)
    unbonding_blocks: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
