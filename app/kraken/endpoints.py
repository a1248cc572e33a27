"""Kraken's REST surface, mounted at the root: `/0/public/<Method>` (GET or POST) and
`/0/private/<Method>` (POST, form-encoded or JSON, signed over the path as Kraken signs).

Every answer is Kraken's envelope `{"error": [...], "result": ...}` with HTTP 200; errors
carry Kraken's strings (see `app.kraken.errors`). The handlers only adapt: orders go to
the sequencer, reads to the native services.
"""

import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from starlette.convertors import PathConvertor, register_url_convertor

from app.auth.dependencies import authenticate_request
from app.auth.scopes import Scope
from app.auth.service import Authenticator
from app.kit.dberrors import classify
from app.kit.deps import Session
from app.kit.errors import AppError
from app.kraken import earn, funding, private, public
from app.kraken.context import Context
from app.kraken.errors import (
    INTERNAL,
    INVALID_ARGUMENTS,
    UNKNOWN_METHOD,
    KrakenError,
    envelope,
    kraken_error,
)
from app.kraken.schemas import Params, parse_body
from app.orders.commands import OrderService

log = logging.getLogger("app.kraken")

router = APIRouter(tags=["kraken"], include_in_schema=True)

Handler = Callable[[Context], Awaitable[Any]]
# Documented at most 64 characters long; not validated as such, so that any unknown method,
# however long, is answered in Kraken's envelope (`EGeneral:Unknown method`).
Method = Annotated[
    str,
    Path(description="e.g. Ticker, AddOrder, Earn/Allocate", json_schema_extra={"maxLength": 64}),
]


@dataclass(frozen=True, slots=True)
class Private:
    handler: Handler
    scope: Scope
    # Places orders: the request's nonce is recorded in the orders' group (`Context.nonce`)
    # where the sequencer is in this process.
    places: bool = False


PUBLIC: dict[str, Handler] = {
    "Time": public.time,
    "SystemStatus": public.system_status,
    "Assets": public.assets,
    "AssetPairs": public.asset_pairs,
    "Ticker": public.ticker,
    "OHLC": public.ohlc,
    "Depth": public.depth,
    "Trades": public.trades,
    "Spread": public.spread,
}

READ, TRADE, WITHDRAW = Scope.READ, Scope.TRADE, Scope.WITHDRAW
PRIVATE: dict[str, Private] = {
    "Balance": Private(private.balance, READ),
    "BalanceEx": Private(private.balance_ex, READ),
    "TradeBalance": Private(private.trade_balance, READ),
    "TradeVolume": Private(private.trade_volume, READ),
    "OpenOrders": Private(private.open_orders, READ),
    "ClosedOrders": Private(private.closed_orders, READ),
    "QueryOrders": Private(private.query_orders, READ),
    "TradesHistory": Private(private.trades_history, READ),
    "QueryTrades": Private(private.query_trades, READ),
    "Ledgers": Private(private.ledgers, READ),
    "GetWebSocketsToken": Private(private.get_websockets_token, READ),
    "QueryLedgers": Private(private.query_ledgers, READ),
    "AddOrder": Private(private.add_order, TRADE, places=True),
    "AddOrderBatch": Private(private.add_order_batch, TRADE, places=True),
    "CancelOrder": Private(private.cancel_order, TRADE),
    "CancelAll": Private(private.cancel_all, TRADE),
    "CancelAllOrdersAfter": Private(private.cancel_all_orders_after, TRADE),
    "CancelOrderBatch": Private(private.cancel_order_batch, TRADE),
    "AmendOrder": Private(private.amend_order, TRADE),
    "EditOrder": Private(private.edit_order, TRADE),
    "Earn/Strategies": Private(earn.strategies, READ),
    "Earn/Allocations": Private(earn.allocations, READ),
    "Earn/Allocate": Private(earn.allocate, TRADE),
    "Earn/Deallocate": Private(earn.deallocate, TRADE),
    "Earn/AllocateStatus": Private(earn.allocate_status, READ),
    "Earn/DeallocateStatus": Private(earn.deallocate_status, READ),
    "DepositMethods": Private(funding.deposit_methods, READ),
    "DepositAddresses": Private(funding.deposit_addresses, READ),
    "DepositStatus": Private(funding.deposit_status, READ),
    "WithdrawMethods": Private(funding.withdraw_methods, READ),
    "WithdrawAddresses": Private(funding.withdraw_addresses, READ),
    "WithdrawInfo": Private(funding.withdraw_info, READ),
    "Withdraw": Private(funding.withdraw, WITHDRAW),
    "WithdrawStatus": Private(funding.withdraw_status, READ),
    "WithdrawCancel": Private(funding.withdraw_cancel, WITHDRAW),
}


def _app_error(exc: AppError) -> JSONResponse:
    retry_after = exc.details.get("retry_after") if exc.status_code == 503 else None
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after else None
    return envelope([kraken_error(exc)], headers=headers)


async def _run(handler: Handler, ctx: Context) -> JSONResponse:
    try:
        result = await handler(ctx)
    except Exception as exc:
        with contextlib.suppress(Exception):  # the database may be what failed
            await ctx.session.rollback()
        if isinstance(exc, KrakenError):
            return envelope([exc.error])
        error = exc if isinstance(exc, AppError) else classify(exc)
        if error is None:
            log.exception("kraken handler failed")
            return envelope([INTERNAL])
        return _app_error(error)
    return envelope([], result)


@router.get("/0/public/{method}", operation_id="kraken_public_get")
@router.post("/0/public/{method}", operation_id="kraken_public_post")
async def public_method(method: Method, request: Request, session: Session) -> JSONResponse:
    handler = PUBLIC.get(method)
    if handler is None:
        return envelope([UNKNOWN_METHOD])
    try:
        if request.method == "GET":
            data = parse_body(request.scope.get("query_string", b""), "")
        else:
            body = await request.body()
            data = parse_body(body, request.headers.get("content-type", ""))
            data = {**parse_body(request.scope.get("query_string", b""), ""), **data}
    except KrakenError as exc:
        return envelope([exc.error])
    return await _run(handler, Context(request, session, Params(data), None))


class _AnyPath(PathConvertor):
    """Starlette's `path`, but across a newline too (its `.*` stops at one, and such a path
    would be answered a bare 404 rather than in Kraken's envelope): every path under
    `/0/private/` reaches the handlers below."""

    regex = "[\\s\\S]*"


register_url_convertor("kraken_method", _AnyPath())


@router.post("/0/private/{method:kraken_method}", operation_id="kraken_private")
async def private_method(method: Method, request: Request, session: Session) -> JSONResponse:
    spec = PRIVATE.get(method)
    if spec is None:
        return envelope([UNKNOWN_METHOD])
    orders: OrderService = request.app.state.orders
    try:
        principal = await authenticate_request(
            request, spec.scope, reads_body=True, defer_nonce=spec.places and orders.records_nonces
        )
    except AppError as exc:
        return _app_error(exc)
    try:
        data = parse_body(await request.body(), request.headers.get("content-type", ""))
    except KrakenError as exc:
        answer = envelope([exc.error])
    else:
        data.pop("nonce", None)
        answer = await _run(spec.handler, Context(request, session, Params(data), principal))
    if principal.nonce is not None:  # a placement's, unless its group recorded it
        authenticator: Authenticator = request.app.state.authenticator
        try:
            await authenticator.settle(principal.nonce)
        except AppError as exc:
            return _app_error(exc)
    return answer


@router.get(
    "/0/private/{method:kraken_method}",
    operation_id="kraken_private_get",
    include_in_schema=False,
)
async def private_method_get(method: str) -> JSONResponse:
    """Kraken's private methods are POST only; answer a GET in Kraken's envelope too."""
    return envelope([UNKNOWN_METHOD if method not in PRIVATE else INVALID_ARGUMENTS])
