from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from app.auth.dependencies import ReadPrincipal, TradePrincipal, require_recording_nonce
from app.auth.principal import Principal
from app.auth.scopes import Scope
from app.kit.deps import Session
from app.kit.inputs import Canonical, PositiveInt, Timestamp
from app.kit.leanroute import LeanRoute
from app.orders import deadman, service
from app.orders.commands import AmendOrder, CancelOrders, LiveOrder, OrderService, PlaceOrders
from app.orders.readmodel import OrdersView
from app.orders.schemas import (
    AmendIn,
    CancelAfterIn,
    CancelAfterOut,
    CancelledOut,
    FillsPage,
    OrderBatchIn,
    OrderIn,
    OrderOut,
    OrdersPage,
    parse_field_amount,
)

router = APIRouter(prefix="/v1", tags=["orders"])

OrderId = Annotated[PositiveInt, Path()]
Limit = Annotated[int, Canonical(1, 500), Query()]


def _orders(request: Request) -> OrderService:
    orders: OrderService = request.app.state.orders
    return orders


def _outs(request: Request, orders: list[LiveOrder]) -> list[OrderOut]:
    # The order service knows every symbol it answers about: no database round trip.
    view: OrdersView = request.app.state.orders_view
    return [OrderOut.of(o, view.symbol(o.market_id) or "") for o in orders]


# A placement's nonce is recorded in its group's transaction (no commit of its own).
Trader = Annotated[
    Principal,
    Depends(
        require_recording_nonce(Scope.TRADE, lambda request: _orders(request).records_nonces),
        scope="function",  # left before the answer is sent, served lean or not
    ),
]


async def place_order(body: OrderIn, principal: Trader, request: Request) -> OrderOut:
    """Place one order. Answered only once the order, its fills and ledger entries are
    committed. A retry with the same `client_order_id` returns the original open order."""
    command = PlaceOrders(principal.user_id, [body.to_request()], principal.nonce)
    placed: list[LiveOrder] = await _orders(request).submit(command)
    return _outs(request, placed)[0]


async def place_orders(body: OrderBatchIn, principal: Trader, request: Request) -> list[OrderOut]:
    """Up to 15 orders, validated and funded all or nothing, then placed in order."""
    command = PlaceOrders(principal.user_id, [o.to_request() for o in body.orders], principal.nonce)
    return _outs(request, await _orders(request).submit(command))


# The hot routes: served lean (`app.kit.leanroute`), documented and answered as any other.
router.add_api_route(
    "/orders",
    place_order,
    methods=["POST"],
    response_model=OrderOut,
    status_code=201,
    route_class_override=LeanRoute,
)
router.add_api_route(
    "/orders/batch",
    place_orders,
    methods=["POST"],
    response_model=list[OrderOut],
    status_code=201,
    route_class_override=LeanRoute,
)


@router.delete("/orders/{order_id}", response_model=OrderOut)
async def cancel_order(order_id: OrderId, principal: TradePrincipal, request: Request) -> OrderOut:
    command = CancelOrders(principal.user_id, order_ids=[order_id])
    cancelled: list[LiveOrder] = await _orders(request).submit(command)
    return _outs(request, cancelled)[0]


@router.delete("/orders", response_model=CancelledOut)
async def cancel_orders(
    principal: TradePrincipal,
    request: Request,
    market: Annotated[str | None, Query(max_length=32)] = None,
    client_order_id: Annotated[str | None, Query(max_length=64)] = None,
) -> CancelledOut:
    """Cancel by client order id, or every open order (of one market, if given)."""
    if client_order_id:
        command = CancelOrders(principal.user_id, client_order_ids=[client_order_id])
    else:
        command = CancelOrders(principal.user_id, market=market, all_orders=True)
    cancelled = await _orders(request).submit(command)
    return CancelledOut(cancelled=_outs(request, cancelled))


@router.patch("/orders/{order_id}", response_model=OrderOut)
async def amend_order(
    order_id: OrderId, body: AmendIn, principal: TradePrincipal, request: Request
) -> OrderOut:
    """Change price and/or total quantity; reducing the quantity keeps time priority."""
    command = AmendOrder(
        principal.user_id,
        order_id,
        None,
        parse_field_amount("qty", body.qty),
        parse_field_amount("price", body.price),
    )
    amended: LiveOrder = await _orders(request).submit(command)
    return _outs(request, [amended])[0]


@router.post("/orders/cancel-after", response_model=CancelAfterOut)
async def cancel_after(
    body: CancelAfterIn, principal: TradePrincipal, session: Session, request: Request
) -> CancelAfterOut:
    """The dead man's switch: unless called again within `timeout` seconds, every open
    order of the caller's user is cancelled (also if the service restarts meanwhile: the
    deadline is stored). `timeout` 0 disarms it. One deadline per API key."""
    now, deadline = await deadman.arm(session, principal, body.timeout)
    await session.commit()
    request.app.state.deadman.wake()
    return CancelAfterOut(current_time=now, trigger_time=deadline)


@router.get("/orders", response_model=OrdersPage)
async def list_orders(
    principal: ReadPrincipal,
    session: Session,
    status: Literal["open", "closed"] = "open",
    market: Annotated[str | None, Query(max_length=32)] = None,
    start: Annotated[
        Timestamp | None, Query(alias="from", description="created at or after (ISO 8601)")
    ] = None,
    end: Annotated[Timestamp | None, Query(alias="to", description="created before")] = None,
    cursor: Annotated[PositiveInt | None, Query()] = None,
    limit: Limit = 100,
) -> OrdersPage:
    """The caller's orders, newest first: `open` (untriggered stops too) or `closed`,
    keyset-paged (`cursor`: the previous page's `next_cursor`)."""
    orders, next_cursor = await service.list_orders(
        session,
        principal.user_id,
        service.OrderFilter(status=status, market=market, start=start, end=end),
        cursor,
        limit,
    )
    return OrdersPage(orders=orders, next_cursor=next_cursor)


@router.get("/orders/{order_id}", response_model=OrderOut)
async def get_order(order_id: OrderId, principal: ReadPrincipal, session: Session) -> OrderOut:
    return await service.get_order(session, principal.user_id, order_id)


@router.get("/fills", response_model=FillsPage)
async def list_fills(
    principal: ReadPrincipal,
    session: Session,
    market: Annotated[str | None, Query(max_length=32)] = None,
    start: Annotated[
        Timestamp | None, Query(alias="from", description="ISO 8601, inclusive")
    ] = None,
    end: Annotated[Timestamp | None, Query(alias="to", description="exclusive")] = None,
    cursor: Annotated[PositiveInt | None, Query()] = None,
    limit: Limit = 100,
) -> FillsPage:
    fills, next_cursor = await service.list_fills(
        session, principal.user_id, market, start, cursor, limit, end
    )
    return FillsPage(fills=fills, next_cursor=next_cursor)
