from sqlalchemy import BigInteger, CheckConstraint, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class StakingRewardState(Base):
    """The last block whose reward periods were closed (one row): a block is closed once both
    the indexer (the positions) and the custody scanner (the stake flows) have processed it."""

    __tablename__ = "staking_reward_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    last_block: Mapped[int] = mapped_column(BigInteger)
