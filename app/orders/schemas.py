"""Order API bodies. Amounts are strings of integer base units, like the ledger's: prices in
rao per whole alpha, quantities in alpha-rao (10^9 per alpha), budgets in rao."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr

from app.kit.errors import AppError
from app.kit.inputs import Canonical
from app.ledger.schemas import amount_field
from app.ledger.service import parse_amount
from app.models import Order
from app.orders.commands import LiveOrder, OrderRequest

Amount = StrictStr | StrictInt
ClientOrderId = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


def parse_field_amount(name: str, value: Amount | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_amount(value)
    except AppError as exc:  # same error and code, naming the field
        raise type(exc)(f"{name}: {exc.message}", details={"field": name}) from exc


class OrderIn(BaseModel):
    market: str = Field(max_length=32, examples=["SN64/TAO"])
    side: Literal["buy", "sell"]
    type: Literal["limit", "market"] = "limit"
    price: Amount | None = amount_field("rao per whole alpha (limit orders)", default=None)
    qty: Amount | None = amount_field("alpha base units", default=None)
    quote_budget: Amount | None = amount_field(
        "market buys: spend at most this many rao (fee on top)", default=None
    )
    time_in_force: Literal["gtc", "ioc", "fok"] = "gtc"
    post_only: StrictBool = False
    stp: Literal["cancel_newest", "cancel_oldest", "cancel_both"] = "cancel_newest"
    client_order_id: str | None = ClientOrderId
    validate_only: StrictBool = Field(default=False, description="check everything, place nothing")
    trigger: Literal["stop_loss", "take_profit", "trailing_stop"] | None = Field(
        default=None,
        description="a stop order: held now, on the book once the last trade price crosses "
        "trigger_price (stop_loss: a sell at or below it, a buy at or above; take_profit: "
        "the other way round); then it is this limit or market order. A trailing_stop (a "
        "market order) has its trigger follow the best price since it was placed by "
        "trail_offset or trail_bps",
    )
    trigger_price: Amount | None = amount_field(
        "stop orders: rao per whole alpha, on the tick", default=None
    )
    trail_offset: Amount | None = amount_field(
        "trailing stops: the trigger's distance from the best price, rao per alpha",
        default=None,
    )
    trail_bps: Annotated[int, Canonical(1, 9999)] | None = Field(
        default=None, description="trailing stops: the distance in basis points of the price"
    )

    def to_request(self) -> OrderRequest:
        return OrderRequest(
            market=self.market,
            side=self.side,
            type=self.type,
            price=parse_field_amount("price", self.price),
            qty=parse_field_amount("qty", self.qty),
            quote_budget=parse_field_amount("quote_budget", self.quote_budget),
            time_in_force=self.time_in_force,
            post_only=self.post_only,
            stp=self.stp,
            client_order_id=self.client_order_id,
            validate_only=self.validate_only,
            trigger=self.trigger,
            trigger_price=parse_field_amount("trigger_price", self.trigger_price),
            trail_offset=parse_field_amount("trail_offset", self.trail_offset),
            trail_bps=self.trail_bps,
        )


class OrderBatchIn(BaseModel):
    orders: list[OrderIn] = Field(min_length=1, max_length=15)


class OrderOut(BaseModel):
    id: int
    client_order_id: str | None
    market: str
    side: str
    type: str
    price: str | None
    qty: str | None
    quote_budget: str | None
    filled_qty: str
    filled_quote: str
    fee: str  # rao of TAO
    status: str  # open | untriggered | filled | cancelled (| validated for validate_only)
    cancel_reason: str | None
    time_in_force: str
    post_only: bool
    stp: str
    hold: str  # what the order reserved, in its hold asset
    created_at: datetime | None = None
    closed_at: datetime | None = None
    trigger: str | None = None  # stop_loss | take_profit | trailing_stop
    trigger_price: str | None = None  # a trailing stop's: where it is now
    triggered_at: datetime | None = None
    trail_offset: str | None = None
    trail_bps: int | None = None

    @classmethod
    def of(cls, o: "LiveOrder | Order", symbol: str) -> "OrderOut":
        """From the sequencer's live order or the stored row: they share these fields."""
        return cls(
            id=o.id,
            client_order_id=o.client_order_id,
            market=symbol,
            side=o.side,
            type=o.type,
            price=None if o.price is None else str(o.price),
            qty=None if o.qty is None else str(o.qty),
            quote_budget=None if o.quote_budget is None else str(o.quote_budget),
            filled_qty=str(o.filled_qty),
            filled_quote=str(o.filled_quote),
            fee=str(o.fee),
            status=o.status,
            cancel_reason=o.cancel_reason,
            time_in_force=o.time_in_force,
            post_only=o.post_only,
            stp=o.stp,
            hold=str(o.hold_amount),
            created_at=o.created_at,
            closed_at=o.closed_at,
            trigger=o.trigger,
            trigger_price=None if o.trigger_price is None else str(o.trigger_price),
            triggered_at=o.triggered_at,
            trail_offset=None if o.trail_offset is None else str(o.trail_offset),
            trail_bps=o.trail_bps,
        )


class OrdersPage(BaseModel):
    orders: list[OrderOut]
    next_cursor: int | None


class FillOut(BaseModel):
    id: int
    market: str
    order_id: int
    side: str
    liquidity: Literal["maker", "taker"]
    price: str
    qty: str
    quote: str
    fee: str
    created_at: datetime


class FillsPage(BaseModel):
    fills: list[FillOut]
    next_cursor: int | None


class CancelledOut(BaseModel):
    cancelled: list[OrderOut]


class AmendIn(BaseModel):
    qty: Amount | None = amount_field("the new total quantity, alpha base units", default=None)
    price: Amount | None = amount_field("the new price, rao per whole alpha", default=None)


class CancelAfterIn(BaseModel):
    timeout: Annotated[int, Canonical(0, 86_400)] = Field(
        description="seconds until every open order is cancelled; 0 disarms"
    )


class CancelAfterOut(BaseModel):
    current_time: datetime
    trigger_time: datetime | None  # None: disarmed
