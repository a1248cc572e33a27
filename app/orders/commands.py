"""What the order sequencer is asked to do, and the in-memory state it keeps per order."""

import operator
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol

from app.auth.principal import NonceClaim
from app.auth.service import Principal


@dataclass(slots=True)
class OrderRequest:
    """One order as a client asked for it, parsed (integers of base units) but not yet
    checked against its market."""

    market: str  # symbol in any accepted form
    side: str  # buy | sell
    type: str  # limit | market
    price: int | None = None  # rao per alpha (limit)
    qty: int | None = None  # alpha-rao
    quote_budget: int | None = None  # rao (market buys by budget)
    time_in_force: str = "gtc"
    post_only: bool = False
    stp: str = "cancel_newest"
    client_order_id: str | None = None
    validate_only: bool = False
    # A stop order: not on the book until the market's last trade price crosses
    # `trigger_price` (stop_loss: a sell at or below, a buy at or above; take_profit: the
    # other way round); then it becomes this limit or market order.
    trigger: str | None = None  # stop_loss | take_profit | trailing_stop
    trigger_price: int | None = None  # rao per alpha (a trailing stop's is computed)
    # A trailing stop (a market order): its trigger trails the best price traded since it
    # was placed by this distance, in rao per alpha or in basis points of the price.
    trail_offset: int | None = None
    trail_bps: int | None = None

    def same_as(self, order: "LiveOrder") -> bool:
        """Is this a retry of `order` (same client id and parameters)?"""
        return (
            self.side == order.side
            and self.type == order.type
            and self.price == order.price
            and self.qty == order.qty
            and self.quote_budget == order.quote_budget
            and self.trigger == order.trigger
            and (self.trigger == "trailing_stop" or self.trigger_price == order.trigger_price)
            and self.trail_offset == order.trail_offset
            and self.trail_bps == order.trail_bps
        )


@dataclass(slots=True)
class PlaceOrders:
    user_id: int
    orders: list[OrderRequest]  # a batch is validated and funded all or nothing
    # The signed request's nonce, to record in the group's transaction (see `OrderService`).
    nonce: NonceClaim | None = None


@dataclass(slots=True)
class CancelOrders:
    user_id: int
    order_ids: list[int] = field(default_factory=list)
    client_order_ids: list[str] = field(default_factory=list)
    market: str | None = None  # with no ids: cancel all (of this market, or everywhere)
    all_orders: bool = False
    skip_unknown: bool = False  # ids that name no open order are left out, not refused


@dataclass(slots=True)
class AmendOrder:
    user_id: int
    order_id: int | None
    client_order_id: str | None
    qty: int | None  # new total quantity
    price: int | None


@dataclass(slots=True)
class SetMarketState:
    actor: Principal
    symbol: str
    state: str
    reason: str | None


@dataclass(slots=True)
class HaltRetiredMarkets:
    """Halt every market whose subnet was deregistered (the indexer announces them)."""


SequencerCommand = PlaceOrders | CancelOrders | AmendOrder | SetMarketState | HaltRetiredMarkets


class OrderService(Protocol):
    """How other modules hand the order service a command (`app.state.orders`): the
    result once it has committed, or the AppError that refused it."""

    # Whether a command's nonce (`PlaceOrders.nonce`) is recorded with it, in the
    # transaction that commits it (else the caller records it first).
    records_nonces: bool

    async def submit(self, command: SequencerCommand) -> Any: ...


@dataclass(slots=True)
class LiveOrder:
    """An order the sequencer knows: every open order, plus the ones a group touched."""

    id: int
    user_id: int
    market_id: int
    side: str
    type: str
    time_in_force: str
    post_only: bool
    stp: str
    price: int | None
    qty: int | None
    quote_budget: int | None
    client_order_id: str | None
    hold_id: str
    hold_asset: str
    hold_amount: int
    hold_used: int = 0
    filled_qty: int = 0
    filled_quote: int = 0
    fee: int = 0
    status: str = "open"
    cancel_reason: str | None = None
    priority_ts: int = 0
    created_at: datetime | None = None
    closed_at: datetime | None = None
    created: bool = False  # inserted by the current group (not yet in the database)
    trigger: str | None = None  # stop_loss | take_profit | trailing_stop (a stop order)
    trigger_price: int | None = None  # a trailing stop's moves with the market
    triggered_at: datetime | None = None  # status "untriggered" until then
    trail_offset: int | None = None
    trail_bps: int | None = None

    @property
    def hold_left(self) -> int:
        return self.hold_amount - self.hold_used

    def snapshot(self) -> "LiveOrder":
        """A copy of the order as it is now (the sequencer goes on changing this one)."""
        return LiveOrder(*_fields_of(self))


# Every field, in the constructor's order (a snapshot is 5x faster than copy.copy).
_fields_of = operator.attrgetter(*(f.name for f in fields(LiveOrder)))
