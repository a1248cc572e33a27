from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.custody_position import SHARES


class StakingReward(Base):
    """A user's share of one reward distribution."""

    __tablename__ = "staking_rewards"
    __table_args__ = (Index("ix_staking_rewards_user", "user_id", "distribution_id"),)

    distribution_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("reward_distributions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True
    )
    weight: Mapped[int] = mapped_column(SHARES)  # staked alpha-rao x blocks in the period
    amount: Mapped[int] = mapped_column(BigInteger)
    transfer_id: Mapped[str | None] = mapped_column(String(100))
