"""Commands, events and enums of the matching engine.

All amounts are integers:
- price: rao per whole alpha (1 alpha = 10**9 base units), a multiple of the market's tick;
- qty: alpha base units, a multiple of the market's lot;
- quote amounts: rao of TAO.

The quote amount of a fill is ``price * qty // 10**9`` (floor). It is computed once, here, and
carried on every fill event: the buyer pays exactly that and the seller receives exactly that,
so a fill itself neither creates nor destroys a rao. Fees (see ``fees.py``) are where rounding
remainders appear, and the settlement layer assigns them explicitly.

Events are plain slotted dataclasses so that tests and replays can compare them with ``==``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.kit.units import UNIT as ALPHA  # base units per whole alpha (prices are per alpha)
from app.kit.units import quote_amount  # the quote of a fill: floor(price * qty / 10**9)

__all__ = ["ALPHA", "quote_amount"]  # re-exported: the engine's callers use them from here


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class TimeInForce(StrEnum):
    GTC = "gtc"  # rests until filled or cancelled
    IOC = "ioc"  # takes what it can, the rest is cancelled
    FOK = "fok"  # fills completely at once, or is cancelled without any fill


class StpMode(StrEnum):
    """What happens when an order would match a resting order of the same owner."""

    CANCEL_NEWEST = "cancel_newest"  # cancel the incoming order's remainder
    CANCEL_OLDEST = "cancel_oldest"  # cancel the resting order and keep matching
    CANCEL_BOTH = "cancel_both"  # cancel both


class CancelReason(StrEnum):
    USER = "user"
    IOC_REMAINDER = "ioc_remainder"
    FOK_UNFILLED = "fok_unfilled"
    STP = "stp"
    POST_ONLY_WOULD_TAKE = "post_only_would_take"
    MARKET_NO_LIQUIDITY = "market_no_liquidity"  # a market order's unfilled remainder
    BUDGET_EXHAUSTED = "budget_exhausted"  # a quote-budget order spent what it could
    AMENDED_TO_ZERO = "amended_to_zero"  # an amend set the quantity at or below the filled part


class RejectReason(StrEnum):
    DUPLICATE_ORDER_ID = "duplicate_order_id"
    INVALID_PRICE = "invalid_price"  # not positive, or not on the tick
    INVALID_QUANTITY = "invalid_quantity"  # not positive, or not on the lot
    INVALID_QUOTE_BUDGET = "invalid_quote_budget"
    UNSUPPORTED = "unsupported"  # e.g. a market sell by quote budget, a post-only market order
    UNKNOWN_ORDER = "unknown_order"  # cancel or amend of an order that is not open


# ---------------------------------------------------------------- commands


@dataclass(slots=True)
class PlaceLimit:
    """A limit order. ``post_only`` orders are cancelled (not matched) if they would take."""

    order_id: int
    owner: int
    side: Side
    price: int
    qty: int
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    stp: StpMode = StpMode.CANCEL_NEWEST
    ts: int | None = None  # ns; None means "ask the engine's clock"

    def __post_init__(self) -> None:
        # The engine compares enums by identity: turn plain strings (from JSON, a database
        # row) into members here, once, and fail early on unknown values.
        self.side = Side(self.side)
        self.tif = TimeInForce(self.tif)
        self.stp = StpMode(self.stp)


@dataclass(slots=True)
class PlaceMarket:
    """A market order: by base quantity (``qty``) or, for buys, by quote budget (``quote_budget``
    rao: buys as many lots as the budget pays for). Exactly one of the two is set. A market order
    never rests: what it cannot fill is cancelled with ``MARKET_NO_LIQUIDITY``.

    Quote-budget orders take one fill per maker, in priority order, each of the largest whole
    number of lots whose floored quote fits the budget left; they stop at the first maker they
    cannot take completely. They always end with one ``OrderCancelled`` (``cancelled_qty`` 0)
    that closes them: ``BUDGET_EXHAUSTED``, ``MARKET_NO_LIQUIDITY`` (the asks ran out) or
    ``STP``. Quote-budget buys only: a sell by quote budget is rejected as unsupported."""

    order_id: int
    owner: int
    side: Side
    qty: int | None = None
    quote_budget: int | None = None
    stp: StpMode = StpMode.CANCEL_NEWEST
    ts: int | None = None

    def __post_init__(self) -> None:
        self.side = Side(self.side)
        self.stp = StpMode(self.stp)


@dataclass(slots=True)
class Cancel:
    order_id: int
    ts: int | None = None


@dataclass(slots=True)
class Amend:
    """Change a resting order. ``qty`` is the new *total* order quantity (filled part included,
    as Kraken's AmendOrder and Binance's amend keep-priority define it). Reducing the quantity
    at the same price keeps time priority; raising it or changing the price sends the order to
    the back of its (new) level, and a new price may cross and take like a new order."""

    order_id: int
    qty: int | None = None
    price: int | None = None
    ts: int | None = None


Command = PlaceLimit | PlaceMarket | Cancel | Amend


# ---------------------------------------------------------------- events


@dataclass(slots=True)
class OrderAccepted:
    order_id: int
    owner: int
    side: Side
    price: int | None  # None for market orders
    qty: int | None  # None for market orders by quote budget
    quote_budget: int | None
    ts: int


@dataclass(slots=True)
class OrderFilled:
    """One match. ``price`` is the maker's price; ``quote`` = quote_amount(price, qty)."""

    match_id: int  # per engine, 1, 2, 3, ...
    maker_order_id: int
    taker_order_id: int
    maker_owner: int
    taker_owner: int
    taker_side: Side
    price: int
    qty: int
    quote: int
    maker_remaining: int  # 0: the maker order is complete and has left the book
    taker_remaining: int  # base units still open; for quote-budget orders: 0
    ts: int


@dataclass(slots=True)
class OrderCancelled:
    order_id: int
    owner: int
    reason: CancelReason
    cancelled_qty: int  # base units removed; 0 for a quote-budget market order
    ts: int


@dataclass(slots=True)
class OrderAmended:
    order_id: int
    owner: int
    old_price: int
    new_price: int
    old_qty: int  # total order quantity before
    new_qty: int  # total order quantity after
    remaining: int  # open quantity after the amend (before any match it triggers)
    kept_priority: bool
    ts: int


@dataclass(slots=True)
class OrderRejected:
    order_id: int
    owner: int | None  # None for a cancel or amend of an unknown order
    reason: RejectReason
    ts: int


@dataclass(slots=True)
class BookLevelChanged:
    """Market-data delta: the total resting quantity at one price after a command (0: the level
    is gone). Emitted only by engines created with ``track_levels=True``, once per touched level
    per command, after the command's other events; ``seq`` increases by one per delta."""

    seq: int
    side: Side
    price: int
    total_qty: int


Event = (
    OrderAccepted | OrderFilled | OrderCancelled | OrderAmended | OrderRejected | BookLevelChanged
)


# ---------------------------------------------------------------- views


@dataclass(slots=True)
class OpenOrder:
    order_id: int
    owner: int
    side: Side
    price: int
    qty: int  # total order quantity
    remaining: int
    post_only: bool
    stp: StpMode
    ts: int  # when it entered its current priority position


@dataclass(slots=True)
class DepthLevel:
    price: int
    qty: int
    orders: int


@dataclass(slots=True)
class Depth:
    bids: list[DepthLevel]  # best (highest) first
    asks: list[DepthLevel]  # best (lowest) first


@dataclass(slots=True)
class EngineSnapshot:
    """Everything needed to rebuild an engine exactly: resting orders in priority order per
    level (bids then asks, best level first) and the counters."""

    tick: int
    lot: int
    orders: list[OpenOrder]
    next_match_id: int
    next_level_seq: int
