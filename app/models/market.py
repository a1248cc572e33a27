from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAtMixin, IdMixin

MARKET_STATES = ("trading", "post_only", "cancel_only", "halted", "delisted")


class Market(IdMixin, CreatedAtMixin, Base):
    """A listed subnet's alpha against TAO. Prices are rao per whole alpha; sizes alpha-rao."""

    __tablename__ = "markets"
    __table_args__ = (
        CheckConstraint(
            "state IN ('trading', 'post_only', 'cancel_only', 'halted', 'delisted')",
            name="known_state",
        ),
        CheckConstraint("tick_size > 0", name="tick_positive"),
        CheckConstraint("lot_size > 0", name="lot_positive"),
        CheckConstraint("min_size >= lot_size", name="min_size_at_least_lot"),
        CheckConstraint("min_notional >= 0", name="min_notional_non_negative"),
        CheckConstraint("maker_fee_bps BETWEEN 0 AND 1000", name="maker_fee_range"),
        CheckConstraint("taker_fee_bps BETWEEN 0 AND 1000", name="taker_fee_range"),
        CheckConstraint("price_band_bps BETWEEN 1 AND 10000", name="price_band_range"),
    )

    symbol: Mapped[str] = mapped_column(String(32), unique=True)  # "SN64/TAO"
    base_asset: Mapped[str] = mapped_column(String(16), ForeignKey("assets.code"), unique=True)
    quote_asset: Mapped[str] = mapped_column(String(16), ForeignKey("assets.code"))
    subnet_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subnets.id"), unique=True)
    netuid: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    tick_size: Mapped[int] = mapped_column(BigInteger)  # rao per alpha
    lot_size: Mapped[int] = mapped_column(BigInteger)  # alpha-rao
    min_size: Mapped[int] = mapped_column(BigInteger)  # alpha-rao
    min_notional: Mapped[int] = mapped_column(BigInteger)  # rao
    maker_fee_bps: Mapped[int] = mapped_column(Integer)
    taker_fee_bps: Mapped[int] = mapped_column(Integer)
    price_band_bps: Mapped[int] = mapped_column(Integer)  # max distance from the pool price
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
