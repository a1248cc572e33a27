from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Order(Base):
    """An order as the sequencer last committed it. Open orders, in `priority_ts` order per
    price level, are exactly the books: start-up rebuilds the engines from them. Its user and
    market are checked once per statement by a trigger (migration 0021), not per row by
    foreign keys."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("side IN ('buy', 'sell')", name="known_side"),
        CheckConstraint("type IN ('limit', 'market')", name="known_type"),
        CheckConstraint(
            "status IN ('open', 'filled', 'cancelled', 'untriggered')", name="known_status"
        ),
        CheckConstraint(
            "trigger IS NULL OR trigger IN ('stop_loss', 'take_profit', 'trailing_stop')",
            name="known_trigger",
        ),
        CheckConstraint(
            "(trigger = 'trailing_stop') = (trail_offset IS NOT NULL OR trail_bps IS NOT NULL) "
            "AND (trail_offset IS NULL OR trail_bps IS NULL)",
            name="trail_of_trailing_stops",
        ),
        CheckConstraint(
            "(trigger IS NULL) = (trigger_price IS NULL) AND (trigger_price IS NULL OR "
            "trigger_price > 0)",
            name="trigger_with_price",
        ),
        CheckConstraint(
            "status <> 'untriggered' OR trigger IS NOT NULL", name="untriggered_is_a_stop"
        ),
        CheckConstraint(
            "filled_qty >= 0 AND filled_quote >= 0 AND fee >= 0", name="fills_non_negative"
        ),
        CheckConstraint("qty IS NULL OR filled_qty <= qty", name="not_overfilled"),
        # A client order id is unique per user among open orders (untriggered stops too).
        Index(
            "uq_orders_open_client_order_id",
            "user_id",
            "client_order_id",
            unique=True,
            postgresql_where=text(
                "status IN ('open', 'untriggered') AND client_order_id IS NOT NULL"
            ),
        ),
        Index(
            "ix_orders_open_market",
            "market_id",
            postgresql_where=text("status IN ('open', 'untriggered')"),
        ),
        Index("ix_orders_user_status_id", "user_id", "status", "id"),
        # History: a user's orders by time (created, or closed), keyset-paged with the id.
        Index("ix_orders_user_created_id", "user_id", "created_at", "id"),
        Index(
            "ix_orders_user_closed_id",
            "user_id",
            "closed_at",
            "id",
            postgresql_where=text("closed_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger)
    market_id: Mapped[int] = mapped_column(BigInteger)
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
    status: Mapped[str] = mapped_column(String(12))
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    hold_id: Mapped[str] = mapped_column(String(64))
    hold_amount: Mapped[int] = mapped_column(BigInteger)
    # Engine timestamp (ns) of the order's place in its price level's queue.
    priority_ts: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A stop order: on no book (status untriggered) until the market's last trade price
    # crosses trigger_price; then it is this limit or market order (status open).
    trigger: Mapped[str | None] = mapped_column(String(16))
    trigger_price: Mapped[int | None] = mapped_column(BigInteger)
    triggered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A trailing stop's distance from the best price since it was placed (rao per alpha, or
    # basis points of the price); its trigger_price follows.
    trail_offset: Mapped[int | None] = mapped_column(BigInteger)
    trail_bps: Mapped[int | None] = mapped_column(Integer)
