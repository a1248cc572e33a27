"""Kraken's private account and trading methods, adapted onto the ledger's statement and
the order service (every write is a sequencer command: PlaceOrders, CancelOrders,
AmendOrder)."""

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.auth.tokens import TokenIssuer
from app.kit.inputs import MAX_INT
from app.kit.units import quote_amount
from app.kraken.context import Context
from app.kraken.errors import (
    INVALID_PAIR,
    UNKNOWN_ASSET,
    UNKNOWN_ORDER,
    KrakenError,
    invalid_arguments,
)
from app.kraken.schemas import (
    INT32,
    ORDER_TYPES,
    Params,
    add_order_result,
    fee_percent,
    order_descr,
    order_info,
    pair_id,
    parse_trail,
    signed_units,
    split_client_id,
    timestamp,
    to_units,
    units,
    userref_client_id,
    userref_prefix,
)
from app.kraken.txid import (
    deposit_refid,
    fill_of,
    ledger_entry_of,
    ledger_id,
    order_id_of,
    order_txid,
    trade_txid,
    withdrawal_refid,
)
from app.ledger.statement import LedgerEntry, user_balances, user_ledger
from app.markets.fees import MarketFees, user_fees
from app.models import Market, Subnet
from app.orders import deadman, service
from app.orders.commands import AmendOrder, CancelOrders, LiveOrder, OrderRequest, PlaceOrders
from app.orders.errors import OrderNotFound
from app.orders.schemas import FillOut, OrderOut

QUOTE = "TAO"
CLOSED_PAGE = 50  # Kraken's page size for ClosedOrders / TradesHistory

# ---------------------------------------------------------------------------- balances


async def balance(ctx: Context) -> dict[str, str]:
    out: dict[str, str] = {}
    for b in await user_balances(ctx.session, ctx.user_id):
        out[b.asset] = units(b.available + b.held)
        if b.staked:
            out[f"{b.asset}.B"] = units(b.staked)  # Kraken's suffix for staked balances
    return out


async def balance_ex(ctx: Context) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for b in await user_balances(ctx.session, ctx.user_id):
        out[b.asset] = {"balance": units(b.available + b.held), "hold_trade": units(b.held)}
        if b.staked:
            out[f"{b.asset}.B"] = {"balance": units(b.staked), "hold_trade": units(0)}
    return out


async def trade_balance(ctx: Context) -> dict[str, str]:
    """Everything valued in TAO at each subnet's on-chain pool price (spot only: no margin)."""
    asset = (ctx.params.text("asset") or "TAO").upper()
    if asset not in ("TAO", "ZTAO"):
        raise KrakenError(UNKNOWN_ASSET)
    prices = dict(
        (
            await ctx.session.execute(
                select(Market.base_asset, Subnet.price_rao).join(
                    Subnet, Subnet.id == Market.subnet_id
                )
            )
        ).all()
    )
    total = 0
    for b in await user_balances(ctx.session, ctx.user_id):
        amount = b.available + b.held + b.staked
        total += amount if b.asset == "TAO" else quote_amount(int(prices.get(b.asset, 0)), amount)
    zero = units(0)
    return {
        "eb": units(total),
        "tb": units(total),
        "m": zero,
        "uv": zero,
        "n": zero,
        "c": zero,
        "v": zero,
        "e": units(total),
        "mf": units(total),
    }


async def trade_volume(ctx: Context) -> dict[str, Any]:
    """The caller's 30-day volume (in TAO, over every market) and, per pair asked for, the
    fee of its tier now, the lowest and highest of the schedule and the next tier."""
    volume, markets = await user_fees(ctx.session, ctx.user_id)
    wanted = ctx.params.values("pair")
    by_pair = {pair_id(m.symbol): m for m in markets}
    chosen = []
    for pair in wanted:
        try:
            market = await ctx.market(pair)
        except KrakenError:
            raise KrakenError(INVALID_PAIR) from None
        chosen.append(by_pair[pair_id(market.symbol)])
    result: dict[str, Any] = {"currency": "TAO", "volume": units(volume)}
    if chosen:
        result["fees"] = {pair_id(m.symbol): _fee_info(m, taker=True) for m in chosen}
        result["fees_maker"] = {pair_id(m.symbol): _fee_info(m, taker=False) for m in chosen}
    return result


def _fee_info(m: MarketFees, *, taker: bool) -> dict[str, Any]:
    k = 2 if taker else 1
    rates = [t[k] for t in m.schedule]
    return {
        "fee": fee_percent(m.current[k]),
        "minfee": fee_percent(min(rates)),
        "maxfee": fee_percent(max(rates)),
        "nextfee": None if m.next is None else fee_percent(m.next[k]),
        "tiervolume": units(m.current[0]),
        "nextvolume": None if m.next is None else units(m.next[0]),
    }


async def get_websockets_token(ctx: Context) -> dict[str, Any]:
    """A short-lived token standing for the calling key (`app.auth.tokens`): a client that
    must not hold the secret (a browser) authenticates on the WebSocket `/v1/ws` with
    `{"op": "auth", "token": ...}`. Revoking the key makes its tokens worthless."""
    assert ctx.principal is not None
    issuer: TokenIssuer = ctx.request.app.state.ws_tokens
    issued = issuer.issue(ctx.principal.api_key_id)
    return {"token": issued.token, "expires": issuer.ttl_seconds}


# ---------------------------------------------------------------------------- ledger

LEDGER_TYPES = ("all", "trade", "deposit", "withdrawal", "transfer", "staking", "adjustment")


async def ledgers(ctx: Context) -> dict[str, Any]:
    """The caller's ledger, newest first, 50 a page from `ofs`: one entry per fill and asset
    (gross amount and fee), deposit, withdrawal or staking move; staked alpha as `SN64.B`.
    Each asset's entries sum (amount less fee) to its balance."""
    p = ctx.params
    if (p.text("aclass") or "currency") != "currency":
        raise invalid_arguments("aclass")
    kind = p.text("type") or "all"
    if kind not in LEDGER_TYPES:
        raise invalid_arguments("type")
    assets = [a.upper() for a in p.values("asset") if a.lower() != "all"]
    entries, total = await user_ledger(
        ctx.session,
        ctx.user_id,
        QUOTE,
        assets=[a.removesuffix(".B") for a in assets] or None,
        types=None if kind == "all" else [kind],
        start=_time(p.seconds("start")),
        end=_time(p.seconds("end")),
        offset=p.integer("ofs", 0) or 0,
        limit=CLOSED_PAGE,
    )
    result: dict[str, Any] = {"ledger": _ledger_entries(entries)}
    if not p.flag("without_count"):
        result["count"] = total
    return result


async def query_ledgers(ctx: Context) -> dict[str, Any]:
    """Ledger entries by id (up to 20); ids that name none of the caller's are left out."""
    ids = ctx.params.values("id")
    if not ids or len(ids) > 20:
        raise invalid_arguments("id")
    wanted = {e for e in (ledger_entry_of(i) for i in ids) if e is not None}
    if not wanted:
        return {}
    entries, _ = await user_ledger(
        ctx.session, ctx.user_id, QUOTE, seqs=sorted({s for s, _ in wanted}), limit=2 * len(wanted)
    )
    return _ledger_entries([e for e in entries if (e.seq, e.staked) in wanted])


def _ledger_refid(e: LedgerEntry) -> str:
    """What the entry is about, in Kraken's ids where there are some: the trade, the
    on-chain deposit or the withdrawal (as the funding methods name them)."""
    if e.fill_id is not None:
        return trade_txid(e.fill_id, e.taker)
    kind, _, rest = (e.reference or "").partition(":")
    number = rest.split(":")[0]
    if number.isascii() and number.isdigit() and 0 < int(number) <= MAX_INT:
        if kind == "chain":
            return deposit_refid(int(number))
        if kind == "withdrawal":
            return withdrawal_refid(int(number))
    return e.reference or ""


def _ledger_entries(entries: list[LedgerEntry]) -> dict[str, Any]:
    return {
        ledger_id(e.seq, e.staked): {
            "refid": _ledger_refid(e),
            "time": timestamp(e.created_at),
            "type": e.type,
            "subtype": "",
            "aclass": "currency",
            "asset": f"{e.asset}.B" if e.staked else e.asset,
            "amount": signed_units(e.amount),
            "fee": units(e.fee),
            "balance": units(e.balance),
        }
        for e in entries
    }


# ---------------------------------------------------------------------------- order reads


OPEN_LIMIT = 10_000  # OpenOrders answers at most this many (newest first)


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _order_filter(p: Params, status: str, by: str = "open") -> service.OrderFilter:
    """Kraken's order filters, in SQL: `userref` (kept in the client order id's prefix),
    `cl_ord_id`, `start` (exclusive) and `end` (inclusive)."""
    userref = p.userref()
    return service.OrderFilter(
        status=status,
        start=_time(p.seconds("start")),
        end=_time(p.seconds("end")),
        by=by,
        client_order_id=p.text("cl_ord_id"),
        client_order_prefix=None if userref is None else userref_prefix(userref),
        kraken=True,
    )


async def _trades_of(ctx: Context, orders: list[OrderOut]) -> dict[int, list[str]] | None:
    """The trade ids of these orders (one query), if the request asked for them."""
    if not ctx.params.flag("trades"):
        return None
    fills = await service.fills_of_orders(ctx.session, ctx.user_id, [o.id for o in orders])
    return {
        oid: [trade_txid(f.id, f.liquidity == "taker") for f in fs] for oid, fs in fills.items()
    }


def _infos(orders: list[OrderOut], trades: dict[int, list[str]] | None) -> dict[str, Any]:
    return {
        order_txid(o.id): order_info(o, None if trades is None else trades.get(o.id, []))
        for o in orders
    }


async def open_orders(ctx: Context) -> dict[str, Any]:
    orders, _ = await service.list_orders(
        ctx.session, ctx.user_id, _order_filter(ctx.params, "open"), None, OPEN_LIMIT
    )
    return {"open": _infos(orders, await _trades_of(ctx, orders))}


async def closed_orders(ctx: Context) -> dict[str, Any]:
    """Closed orders, newest close first, 50 a page from `ofs`, within `start`/`end` on the
    open time, the close time or either (`closetime`); `count` is the total."""
    p = ctx.params
    closetime = p.text("closetime") or "both"
    if closetime not in ("open", "close", "both"):
        raise invalid_arguments("closetime")
    offset = p.integer("ofs", 0) or 0
    orders, total = await service.page_orders(
        ctx.session, ctx.user_id, _order_filter(p, "closed", closetime), offset, CLOSED_PAGE
    )
    return {"closed": _infos(orders, await _trades_of(ctx, orders)), "count": total}


async def query_orders(ctx: Context) -> dict[str, Any]:
    """Orders by txid (up to 50). An id that names no order of the caller is left out of
    the result (CCXT's fetch_order then raises OrderNotFound)."""
    txids = ctx.params.values("txid")
    if not txids or len(txids) > 50:
        raise invalid_arguments("txid")
    userref = ctx.params.userref()
    ids = [oid for oid in (order_id_of(t) for t in txids) if oid is not None]
    orders = {o.id: o for o in await service.get_orders(ctx.session, ctx.user_id, ids)}
    chosen = [
        orders[oid]
        for oid in dict.fromkeys(ids)
        if oid in orders
        and (userref is None or split_client_id(orders[oid].client_order_id)[0] == userref)
    ]
    return _infos(chosen, await _trades_of(ctx, chosen))


async def trades_history(ctx: Context) -> dict[str, Any]:
    """The caller's trades (one per side of a fill), newest first, 50 a page from `ofs`,
    within `start` (exclusive) and `end` (inclusive); `count` is the total."""
    p = ctx.params
    kind = p.text("type") or "all"
    if kind not in ("all", "any position", "closed position", "closing position", "no position"):
        raise invalid_arguments("type")
    offset = p.integer("ofs", 0) or 0
    if kind in ("closed position", "closing position"):
        return {"trades": {}, "count": 0}  # spot only: no positions
    fills, total = await service.page_fills(
        ctx.session,
        ctx.user_id,
        _time(p.seconds("start")),
        _time(p.seconds("end")),
        offset,
        CLOSED_PAGE,
    )
    return {"trades": await _trades(ctx, fills), "count": total}


async def query_trades(ctx: Context) -> dict[str, Any]:
    """Trades by id (up to 20): ids that name no trade of the caller are left out."""
    txids = ctx.params.values("txid")
    if not txids or len(txids) > 20:
        raise invalid_arguments("txid")
    sides = [
        (fill_id, "taker" if taker else "maker")
        for fill_id, taker in (s for s in (fill_of(t) for t in txids) if s is not None)
    ]
    return await _trades(ctx, await service.fills_by_side(ctx.session, ctx.user_id, sides))


async def _trades(ctx: Context, fills: list[FillOut]) -> dict[str, Any]:
    types = await service.order_types(ctx.session, {f.order_id for f in fills})
    return {trade_txid(f.id, f.liquidity == "taker"): _trade(f, types[f.order_id]) for f in fills}


def _trade(f: FillOut, ordertype: str) -> dict[str, Any]:
    qty, quote = int(f.qty), int(f.quote)
    return {
        "ordertxid": order_txid(f.order_id),
        "postxid": trade_txid(f.id, f.liquidity == "taker"),
        "pair": pair_id(f.market),
        "time": timestamp(f.created_at),
        "type": f.side,
        "ordertype": ordertype,
        "price": units(int(f.price)),
        "cost": units(quote),
        "fee": units(int(f.fee)),
        "vol": units(qty),
        "margin": units(0),
        "leverage": "0",
        "misc": "",
        "trade_id": f.id,
        "maker": f.liquidity == "maker",
    }


# ---------------------------------------------------------------------------- placing

TIME_IN_FORCE = {"GTC": "gtc", "IOC": "ioc", "FOK": "fok"}
STP = {
    "cancel-newest": "cancel_newest",
    "cancel-oldest": "cancel_oldest",
    "cancel-both": "cancel_both",
}
KNOWN_FLAGS = {"post", "viqc", "fcib", "fciq", "nompp"}


def _order_request(p: Params, market: Market) -> OrderRequest:
    side = p.text("type")
    if side not in ("buy", "sell"):
        raise invalid_arguments("type")
    ordertype = p.text("ordertype")
    trigger: str | None = None
    trigger_price: int | None = None
    trail: tuple[int | None, int | None] = (None, None)
    if ordertype == "trailing-stop":  # `price` is the trail: "+0.001" or "+2%"
        trigger, ordertype = ORDER_TYPES[ordertype]
        trail = parse_trail(p.text("price", required=True))
        if p.text("trigger") not in (None, "last"):
            raise invalid_arguments("trigger")
    elif ordertype in ORDER_TYPES:  # a stop: `price` is the trigger, `price2` the limit
        trigger, ordertype = ORDER_TYPES[ordertype]
        trigger_price = to_units("price", p.text("price", required=True))
        if p.text("trigger") not in (None, "last"):  # only the last trade price triggers
            raise invalid_arguments("trigger")
    elif ordertype not in ("limit", "market"):
        raise invalid_arguments("ordertype")
    flags = {f.strip() for f in (p.text("oflags") or "").split(",") if f.strip()}
    if not flags <= KNOWN_FLAGS:
        raise invalid_arguments("oflags")
    leverage = p.text("leverage")
    if leverage not in (None, "none", "0", "1"):
        raise invalid_arguments("leverage")
    if p.text("reduce_only") not in (None, "false", "False"):
        raise invalid_arguments("reduce_only")
    for unsupported in (
        ("displayvol", "close") if trigger else ("price2", "trigger", "displayvol", "close")
    ):
        if p.data.get(unsupported) not in (None, ""):
            raise invalid_arguments(unsupported)
    for moment in ("starttm", "expiretm"):
        if p.text(moment) not in (None, "0", "+0"):
            raise invalid_arguments(moment)
    tif = TIME_IN_FORCE.get((p.text("timeinforce") or "GTC").upper())
    if tif is None:
        raise invalid_arguments("timeinforce")
    stp = STP.get(p.text("stptype") or "cancel-newest")
    if stp is None:
        raise invalid_arguments("stptype")
    volume = to_units("volume", p.text("volume", required=True))
    price: int | None = None
    qty: int | None = volume
    budget: int | None = None
    if "viqc" in flags:
        if ordertype != "market" or side != "buy":
            raise invalid_arguments("viqc")
        qty, budget = None, volume
    if trigger is not None:
        if ordertype == "limit":
            price = to_units("price2", p.text("price2", required=True))
        elif p.text("price2") is not None:
            raise invalid_arguments("price2")
    elif ordertype == "limit":
        price = to_units("price", p.text("price", required=True))
    elif p.text("price") is not None:
        raise invalid_arguments("price")
    if ordertype == "market" and ("post" in flags or tif != "gtc"):
        raise invalid_arguments("oflags" if "post" in flags else "timeinforce")
    cl_ord_id = p.text("cl_ord_id")
    if cl_ord_id is not None and (len(cl_ord_id) > 64 or cl_ord_id.startswith("kr.")):
        raise invalid_arguments("cl_ord_id")
    userref = p.userref()
    client_order_id = cl_ord_id
    if client_order_id is None and userref is not None:
        client_order_id = userref_client_id(userref, secrets.token_hex(6))
    return OrderRequest(
        market=market.symbol,
        side=side,
        type=ordertype,
        price=price,
        qty=qty,
        quote_budget=budget,
        time_in_force=tif,
        post_only="post" in flags,
        stp=stp,
        client_order_id=client_order_id,
        validate_only=p.flag("validate"),
        trigger=trigger,
        trigger_price=trigger_price,
        trail_offset=trail[0],
        trail_bps=trail[1],
    )


def _outs(ctx: Context, orders: list[LiveOrder]) -> list[OrderOut]:
    return [OrderOut.of(o, ctx.view.symbol(o.market_id) or "") for o in orders]


async def add_order(ctx: Context) -> dict[str, Any]:
    market = await ctx.market(ctx.params.text("pair"))
    request = _order_request(ctx.params, market)
    placed = await ctx.submit(PlaceOrders(ctx.user_id, [request], ctx.nonce))
    return add_order_result(_outs(ctx, placed)[0])


async def add_order_batch(ctx: Context) -> dict[str, Any]:
    """Up to 15 orders of one pair, validated and funded all or nothing."""
    market = await ctx.market(ctx.params.text("pair"))
    raw = ctx.params.data.get("orders")
    if not isinstance(raw, list) or not 1 <= len(raw) <= 15:
        raise invalid_arguments("orders")
    validate = ctx.params.flag("validate")
    requests = []
    for item in raw:
        if not isinstance(item, dict):
            raise invalid_arguments("orders")
        request = _order_request(Params(item), market)
        request.validate_only = validate
        requests.append(request)
    placed = await ctx.submit(PlaceOrders(ctx.user_id, requests, ctx.nonce))
    results = []
    for o in _outs(ctx, placed):
        result = add_order_result(o)
        if "txid" in result:
            result["txid"] = result["txid"][0]
        results.append(result)
    return {"orders": results}


# ---------------------------------------------------------------------------- cancelling


async def cancel_order(ctx: Context) -> dict[str, Any]:
    """By txid, by `cl_ord_id`, or by `userref` (an integer in `txid`: all its orders)."""
    p = ctx.params
    cl_ord_id = p.text("cl_ord_id")
    txid = p.text("txid")
    if cl_ord_id is not None:
        command = CancelOrders(ctx.user_id, client_order_ids=[cl_ord_id])
    elif txid is None:
        raise invalid_arguments("txid")
    elif re.fullmatch(r"-?[0-9]+", txid):  # an integer: a userref
        userref = Params({"txid": txid}).integer("txid", minimum=-INT32, maximum=INT32 - 1)
        assert userref is not None
        ids = await _userref_orders(ctx, userref)
        if not ids:
            raise KrakenError(UNKNOWN_ORDER)
        command = CancelOrders(ctx.user_id, order_ids=ids)
    else:
        oid = order_id_of(txid)
        if oid is None:
            raise KrakenError(UNKNOWN_ORDER)
        command = CancelOrders(ctx.user_id, order_ids=[oid])
    cancelled = await ctx.submit(command)
    return {"count": len(cancelled), "pending": False}


async def cancel_all_orders_after(ctx: Context) -> dict[str, str]:
    """The dead man's switch: `timeout` seconds (0 disarms), per API key."""
    timeout = ctx.params.integer("timeout", maximum=deadman.MAX_TIMEOUT_SECONDS)
    if timeout is None:
        raise invalid_arguments("timeout")
    assert ctx.principal is not None
    now, deadline = await deadman.arm(ctx.session, ctx.principal, timeout)
    await ctx.session.commit()
    ctx.request.app.state.deadman.wake()
    return {
        "currentTime": _iso(now),
        "triggerTime": "0" if deadline is None else _iso(deadline),
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def cancel_order_batch(ctx: Context) -> dict[str, int]:
    """Up to 50 orders by txid or userref (`orders`) or by `cl_ord_ids`; ids that name no
    open order of the caller are skipped; none at all: EOrder:Unknown order."""
    refs = ctx.params.values("orders")
    client_ids = ctx.params.values("cl_ord_ids")
    if (not refs and not client_ids) or len(refs) + len(client_ids) > 50:
        raise invalid_arguments("orders")
    ids: list[int] = []
    for ref in refs:
        if re.fullmatch(r"-?[0-9]+", ref):  # an integer: a userref
            userref = Params({"orders": ref}).integer("orders", minimum=-INT32, maximum=INT32 - 1)
            assert userref is not None
            ids.extend(await _userref_orders(ctx, userref))
        else:
            oid = order_id_of(ref)
            if oid is not None:
                ids.append(oid)
    cancelled = await ctx.submit(
        CancelOrders(ctx.user_id, order_ids=ids, client_order_ids=client_ids, skip_unknown=True)
    )
    if not cancelled:
        raise KrakenError(UNKNOWN_ORDER)
    return {"count": len(cancelled)}


async def _userref_orders(ctx: Context, userref: int) -> list[int]:
    """The caller's open orders with this userref (in SQL)."""
    f = service.OrderFilter(status="open", client_order_prefix=userref_prefix(userref))
    orders, _ = await service.list_orders(ctx.session, ctx.user_id, f, None, OPEN_LIMIT)
    return [o.id for o in orders]


async def cancel_all(ctx: Context) -> dict[str, int]:
    cancelled = await ctx.submit(CancelOrders(ctx.user_id, all_orders=True))
    return {"count": len(cancelled)}


# ---------------------------------------------------------------------------- amending


def _target(p: Params) -> tuple[int | None, str | None]:
    cl_ord_id = p.text("cl_ord_id")
    txid = p.text("txid")
    if cl_ord_id is not None:
        return None, cl_ord_id
    if txid is None:
        raise invalid_arguments("txid")
    oid = order_id_of(txid)
    if oid is None:
        raise KrakenError(UNKNOWN_ORDER)
    return oid, None


async def amend_order(ctx: Context) -> dict[str, Any]:
    """In place: the order keeps its txid (and its time priority when only reduced)."""
    p = ctx.params
    for unsupported in ("trigger_price", "display_qty"):
        if p.text(unsupported) is not None:
            raise invalid_arguments(unsupported)
    oid, cl_ord_id = _target(p)
    qty = p.text("order_qty")
    price = p.text("limit_price")
    if qty is None and price is None:
        raise invalid_arguments("order_qty")
    amended = await ctx.submit(
        AmendOrder(
            ctx.user_id,
            oid,
            cl_ord_id,
            None if qty is None else to_units("order_qty", qty),
            None if price is None else to_units("limit_price", price),
        )
    )
    out = _outs(ctx, [amended])[0]
    return {
        "amend_id": f"A{secrets.token_hex(8).upper()}",
        "txid": order_txid(out.id),
        **order_info(out),
    }


async def edit_order(ctx: Context) -> dict[str, Any]:
    """Kraken's legacy edit, done as the native amend: the order is changed in place and
    keeps its txid (`txid` and `originaltxid` are the same)."""
    p = ctx.params
    oid, _ = _target(p)
    assert oid is not None or p.text("cl_ord_id") is not None
    market = await ctx.market(p.text("pair"))
    if set((p.text("oflags") or "").split(",")) - {"", "post", "fcib", "fciq"}:
        raise invalid_arguments("oflags")
    volume = p.text("volume")
    price = p.text("price")
    if volume is None and price is None:
        raise invalid_arguments("volume")
    if oid is not None:
        try:
            current = await service.get_order(ctx.session, ctx.user_id, oid)
        except OrderNotFound:
            raise KrakenError(UNKNOWN_ORDER) from None
        if current.market != market.symbol:
            raise invalid_arguments("pair")
    amended = await ctx.submit(
        AmendOrder(
            ctx.user_id,
            oid,
            p.text("cl_ord_id") if oid is None else None,
            None if volume is None else to_units("volume", volume),
            None if price is None else to_units("price", price),
        )
    )
    out = _outs(ctx, [amended])[0]
    txid = order_txid(out.id)
    return {
        "status": "ok",
        "txid": txid,
        "originaltxid": txid,
        "volume": units(int(out.qty or 0)),
        "price": units(int(out.price or 0)),
        "orders_cancelled": 0,
        "descr": {"order": order_descr(out)},
    }
