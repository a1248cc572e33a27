from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin


class FeeTier(IdMixin, CreatedAtMixin, Base):
    """A fee tier: from `min_volume` rao of 30-day quote volume (the user's, over every
    market) on, a fill pays these basis points. Tiers of a market replace the global ones
    (`market_id` NULL) for it; below the lowest tier, the market's own fees apply."""

    __tablename__ = "fee_tiers"
    __table_args__ = (
        CheckConstraint("min_volume > 0", name="min_volume_positive"),
        CheckConstraint("maker_fee_bps BETWEEN 0 AND 1000", name="maker_fee_range"),
        CheckConstraint("taker_fee_bps BETWEEN 0 AND 1000", name="taker_fee_range"),
        Index(
            "uq_fee_tiers_market_volume",
            "market_id",
            "min_volume",
            unique=True,
            postgresql_where=text("market_id IS NOT NULL"),
        ),
        Index(
            "uq_fee_tiers_global_volume",
            "min_volume",
            unique=True,
            postgresql_where=text("market_id IS NULL"),
        ),
    )

    market_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("markets.id"))
    min_volume: Mapped[int] = mapped_column(BigInteger)  # rao of 30-day quote volume
    maker_fee_bps: Mapped[int] = mapped_column(Integer)
    taker_fee_bps: Mapped[int] = mapped_column(Integer)
