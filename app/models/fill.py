from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin


class Fill(IdMixin, Base):
    """One match between a resting (maker) and an incoming (taker) order, at the maker's
    price. `quote` = floor(price * qty / 10^9); fees are in the asset each side receives.
    Its orders (of its market, its maker's and its taker's) are checked once per statement by
    a trigger (migration 0021), not per row by foreign keys."""

    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint("market_id", "match_id"),
        Index("ix_fills_market_id_id", "market_id", "id"),
        # Tickers (last 24 h) and candles read fills by market and time.
        Index("ix_fills_market_id_created_at", "market_id", "created_at"),
        Index("ix_fills_maker_user_id", "maker_user_id", "id"),
        Index("ix_fills_taker_user_id", "taker_user_id", "id"),
        # An order's fills (Kraken's `trades` of an order).
        Index("ix_fills_maker_order_id", "maker_order_id"),
        Index("ix_fills_taker_order_id", "taker_order_id"),
    )

    market_id: Mapped[int] = mapped_column(BigInteger)
    match_id: Mapped[int] = mapped_column(BigInteger)  # the engine's, per market
    maker_order_id: Mapped[int] = mapped_column(BigInteger)
    taker_order_id: Mapped[int] = mapped_column(BigInteger)
    maker_user_id: Mapped[int] = mapped_column(BigInteger)
    taker_user_id: Mapped[int] = mapped_column(BigInteger)
    taker_side: Mapped[str] = mapped_column(String(4))
    price: Mapped[int] = mapped_column(BigInteger)
    qty: Mapped[int] = mapped_column(BigInteger)
    quote: Mapped[int] = mapped_column(BigInteger)
    maker_fee: Mapped[int] = mapped_column(BigInteger)
    taker_fee: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
