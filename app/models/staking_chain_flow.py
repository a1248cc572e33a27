from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class StakingChainFlow(IdMixin, CreatedAtMixin, Base):
    """Stake the exchange itself moved into (+) or out of (-) a custody position on chain
    (an executed move_stake, a deposit staked there, a withdrawal unstaked from it).

    Reward periods subtract these from the position's growth: they are not emissions."""

    __tablename__ = "staking_chain_flows"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_non_zero"),
        Index("ix_staking_chain_flows_period", "subnet_id", "hotkey", "block_number"),
    )

    subnet_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subnets.id"))
    hotkey: Mapped[str] = mapped_column(String(64))
    block_number: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(128))
    operation_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("staking_operations.id")
    )
