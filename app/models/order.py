from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Order(Base):
    """An order as the sequencer last committed it. Open orders, in `priority_ts` order per
    price level, are exactly the books: start-up rebuilds the engines from them."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("side IN ('buy', 'sell')", name="known_side"),
        CheckConstraint("type IN ('limit', 'market')", name="known_type"),
        CheckConstraint("status IN ('open', 'filled', 'cancelled')", name="known_status"),
        CheckConstraint(
            "filled_qty >= 0 AND filled_quote >= 0 AND fee >= 0", name="fills_non_negative"
        ),
        CheckConstraint("qty IS NULL OR filled_qty <= qty", name="not_overfilled"),
        # A client order id is unique per user among open orders.
        Index(
            "uq_orders_open_client_order_id",
            "user_id",
            "client_order_id",
            unique=True,
            postgresql_where=text("status = 'open' AND client_order_id IS NOT NULL"),
        ),
        Index("ix_orders_open_market", "market_id", postgresql_where=text("status = 'open'")),
        Index("ix_orders_user_status_id", "user_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    market_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("markets.id"))
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(8))
    time_in_force: Mapped[str] = mapped_column(String(4))
    post_only: Mapped[bool] = mapped_column(Boolean, default=False)
    stp: Mapped[str] = mapped_column(String(16))
    price: Mapped[int | None] = mapped_column(BigInteger)  # rao per alpha; None: market
    qty: Mapped[int | None] = mapped_column(BigInteger)  # alpha-rao; None: by quote budget
    quote_budget: Mapped[int | None] = mapped_column(BigInteger)  # rao
    filled_qty: Mapped[int] = mapped_column(BigInteger, default=0)
    filled_quote: Mapped[int] = mapped_column(BigInteger, default=0)
    fee: Mapped[int] = mapped_column(BigInteger, default=0)  # in the asset received
    status: Mapped[str] = mapped_column(String(10))
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    hold_id: Mapped[str] = mapped_column(String(64))
    hold_amount: Mapped[int] = mapped_column(BigInteger)
    # Engine timestamp (ns) of the order's place in its price level's queue.
    priority_ts: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
