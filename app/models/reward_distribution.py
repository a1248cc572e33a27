import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin
from app.models.custody_position import SHARES

DISTRIBUTION_KINDS = ("baseline", "reward", "unclaimed", "loss")


class RewardDistribution(IdMixin, CreatedAtMixin, Base):
    """One (subnet, validator hotkey, epoch) period of the custody position, (start, end].

    `baseline` opens the series (first time the position is seen: nothing to pay);
    `reward` paid users; `unclaimed` had growth but no stakers (all of it to fees);
    `loss` had no positive growth (nothing booked, visible in reconciliation).
    `retained` is the part of the growth earned by stake in the position that users had not
    allocated there (the float under the exchange's own hotkey, commission not moved yet):
    the exchange's, like the commission."""

    __tablename__ = "reward_distributions"
    __table_args__ = (
        UniqueConstraint("subnet_id", "hotkey", "epoch", name="uq_reward_distributions_epoch"),
        CheckConstraint("kind IN ('baseline', 'reward', 'unclaimed', 'loss')", name="known_kind"),
        CheckConstraint(
            "users_total + commission + rounding + retained = GREATEST(growth, 0)", name="exact"
        ),
    )

    subnet_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subnets.id"))
    netuid: Mapped[int] = mapped_column(Integer)
    hotkey: Mapped[str] = mapped_column(String(64))
    asset: Mapped[str] = mapped_column(String(16), ForeignKey("assets.code"))
    epoch: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    start_block: Mapped[int] = mapped_column(BigInteger)
    end_block: Mapped[int] = mapped_column(BigInteger)
    start_stake: Mapped[int] = mapped_column(BigInteger)
    end_stake: Mapped[int] = mapped_column(BigInteger)
    net_flow: Mapped[int] = mapped_column(BigInteger)  # stake moved in (+) / out (-) on chain
    growth: Mapped[int] = mapped_column(BigInteger)  # end - start - net_flow
    commission_bps: Mapped[int] = mapped_column(Integer)
    commission: Mapped[int] = mapped_column(BigInteger)
    users_total: Mapped[int] = mapped_column(BigInteger)
    rounding: Mapped[int] = mapped_column(BigInteger)
    total_weight: Mapped[int] = mapped_column(SHARES)  # sum of balance x blocks, can exceed i64
    # The position's weight: its stake before the period's emission (start + flows) x blocks.
    position_weight: Mapped[int] = mapped_column(SHARES, default=0, server_default="0")
    retained: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    batch_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
