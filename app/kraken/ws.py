"""Kraken's WebSocket API (v2) at `/ws/kraken/v2`, public and private on one endpoint as
Kraken's v2 allows with tokens, so that `ccxt.pro.kraken` with only its `urls['api']['ws']`
entries pointed here works (`publicV2`/`privateV2` -> `/ws/kraken/v2`; `public`/`private`
-> `/ws/kraken`, the v1 endpoint: see `app.kraken.ws1`).

Like the REST surface it only adapts: books come from the order service's committed read
model (`OrdersView`), trades, tickers, candles and balances from the native services, orders
go through the Kraken REST handlers (`app.kraken.private`) to the sequencer.

Protocol (Kraken's v2, JSON text frames):
- requests `{"method": M, "params": {...}, "req_id": N}`; answers
  `{"method": M, "result": {...}, "success": true, "req_id": N, "time_in": T, "time_out": T}`
  or `{"method": M, "error": "<Kraken error string>", "success": false, ...}`;
- `ping` -> `pong`; `{"channel": "heartbeat"}` about once a second on a connection that has
  subscribed and was sent nothing else; `{"channel": "status", ...}` on connecting;
- public channels `book` (depth 10/25/100/500/1000, CRC32 `checksum` as Kraken specifies:
  `app.kraken.wsformat`), `ticker` (`event_trigger` trades | bbo), `trade`, `ohlc` (Kraken's
  intervals), `instrument`;
- private channels `executions` and `balances`, with a `token` from `GetWebSocketsToken`
  (`app.auth.tokens`): a bad, expired or revoked token is `ESession:Invalid session`;
- methods `add_order`, `amend_order`, `edit_order`, `cancel_order`, `cancel_all`,
  `cancel_all_orders_after`, `batch_add`, `batch_cancel` (each with a `token`).

Snapshots and updates never overlap or leave a gap: a book snapshot is taken from the read
model in the same step as the registration (updates carry the book's sequence); for the
other channels the connection is registered first and what arrives while its snapshot is
read is held, then sent after it (trades already in the snapshot left out).
"""

import asyncio
import contextlib
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.scopes import Scope
from app.auth.service import Principal
from app.auth.sessions import Sessions
from app.auth.tokens import TokenIssuer, principal_of
from app.custody.notices import parse_notice
from app.kit.dberrors import classify
from app.kit.errors import AppError
from app.kit.inputs import parse_json
from app.kit.units import UNIT
from app.kit.wsframes import Flusher, Frame
from app.kraken import private
from app.kraken.context import Context
from app.kraken.errors import INTERNAL, KrakenError, kraken_error
from app.kraken.public import OHLC_INTERVALS
from app.kraken.schemas import (
    STATUS,
    Params,
    decimals_of,
    kraken_ordertype,
    split_client_id,
)
from app.kraken.txid import order_txid, trade_txid
from app.kraken.wsformat import (
    BOOK_DEPTHS,
    DEFAULT_DEPTH,
    Level,
    Num,
    book_delta,
    checksum,
    decimal_text,
    dumps,
    levels,
    num,
    rfc3339,
    rfc3339_ns,
)
from app.ledger.statement import user_balances
from app.marketdata import service as md
from app.marketdata.ws import Connection
from app.markets.errors import MarketNotFound
from app.markets.rules import DELISTED
from app.markets.service import get_market
from app.models import Asset, Fill, Market
from app.orders import service as orders_service
from app.orders.commands import LiveOrder
from app.orders.readmodel import BookChange, Committed, FillRecord, OrdersView
from app.orders.schemas import FillOut, OrderOut

log = logging.getLogger("app.kraken.ws")

router = APIRouter()

V2_PATH = "/ws/kraken/v2"
API_VERSION = "2.0.10"
SNAPSHOT_TRADES = 50  # Kraken's trade and executions (snap_trades) snapshots
OHLC_SNAPSHOT = 720
CLOSE_REVOKED = 4001

# Kraken's v2 error strings, in the words `ccxt.pro.kraken` maps to its exceptions.
INVALID_SESSION = "ESession:Invalid session"  # a bad, expired or revoked token
INVALID_PERMISSIONS = "EAccount:Invalid permissions"  # the key lacks the scope
PAIR_NOT_SUPPORTED = "Currency pair not supported"
DEPTH_NOT_SUPPORTED = "Subscription depth not supported"
INTERVAL_NOT_SUPPORTED = "Subscription ohlc interval not supported"
CHANNEL_INVALID = "Subscription name invalid"
MALFORMED = "Malformed request"
METHOD_NOT_FOUND = "Method not found"
# The REST strings that Kraken's WebSocket writes out in full.
WS_WORDS = {
    "EOrder:Insufficient funds": "EOrder:Insufficient funds (insufficient user funds)",
    "EOrder:Order minimum not met": "EOrder:Order minimum not met (volume too low)",
}


class WsError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def ws_error(error: str) -> str:
    return WS_WORDS.get(error, error)


class KConn(Connection):
    """One client of Kraken's WebSocket: its subscriptions and what is held for it."""

    def __init__(self, websocket: WebSocket, queue_size: int, flusher: Flusher) -> None:
        super().__init__(websocket, queue_size, flusher)
        self.depths: dict[int, int] = {}  # market id -> subscribed book depth
        self.bbo: set[int] = set()  # markets whose ticker is sent on best bid/ask changes
        self.holding: dict[tuple[str, int], list[tuple[str | None, str]]] = {}
        self.exec_seq = 0
        self.balance_seq = 0
        self.balances: dict[str, int] = {}  # asset -> the balance last sent
        self.connection_id = id(self)
        self.heartbeat = '{"channel":"heartbeat"}'  # v1's: '{"event":"heartbeat"}'


@dataclass
class FillIds:
    """A committed fill's id and time, as the database holds them (REST shows these)."""

    ids: dict[tuple[int, int], tuple[int, datetime]] = field(default_factory=dict)

    def of(self, fill: FillRecord) -> tuple[int, datetime] | None:
        return self.ids.get((fill.market_id, fill.match_id))


Method = Callable[[Context], Awaitable[Any]]


class V1Hooks(Protocol):
    """What the v1 endpoint (`app.kraken.ws1`) takes of the feed's events."""

    def book_update(self, change: BookChange, crc: int) -> None: ...

    def trades(
        self, market_id: int, fills: list[FillRecord], when: dict[tuple[int, int], datetime]
    ) -> None: ...

    def private(
        self, committed: Committed, fill_ids: dict[tuple[int, int], tuple[int, datetime]]
    ) -> None: ...

    async def refresh(self, session: AsyncSession, dirty: set[int]) -> None: ...


class KrakenFeed:
    """Fans committed order-path events out to Kraken WebSocket connections."""

    def __init__(
        self,
        view: OrdersView,
        sessionmaker: async_sessionmaker[AsyncSession],
        tokens: TokenIssuer,
        *,
        queue_size: int = 2000,
        heartbeat: float = 1.0,
        refresh: float = 0.25,
    ) -> None:
        self.view = view
        self.sessionmaker = sessionmaker
        self.tokens = tokens
        self.queue_size = queue_size
        self.flusher = Flusher()
        self.heartbeat = heartbeat
        self.refresh = refresh
        self.subs: dict[tuple[str, int], set[KConn]] = defaultdict(set)
        self.sessions: Sessions[KConn] = Sessions(sessionmaker)
        self.users = self.sessions.users  # signed-in connections by user
        self.connections: set[KConn] = set()
        self.symbols: dict[int, str] = {}
        self._inbox: asyncio.Queue[Committed] = asyncio.Queue()
        self._dirty: set[int] = set()  # markets with new trades: tickers, candles
        self._bbo: set[int] = set()  # markets whose best bid or ask changed
        self._balances: set[int] = set()  # users whose balances changed
        self._tasks: list[asyncio.Task[None]] = []
        self.v1: V1Hooks | None = None  # the v1 endpoint's formats, once it is used

    # ------------------------------------------------------------------ lifecycle

    def on_commit(self, committed: Committed) -> None:
        self._inbox.put_nowait(committed)

    async def start(self) -> None:
        self.view.subscribe(self.on_commit)
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="kraken-ws-dispatch"),
            asyncio.create_task(self._refresh_loop(), name="kraken-ws-refresh"),
            asyncio.create_task(self._heartbeat_loop(), name="kraken-ws-heartbeat"),
        ]

    def custody_notice(self, payload: str) -> None:
        """A deposit or withdrawal changed (the notice listener's callback, `app.custody
        .notices`): its owner's balances are sent again."""
        parsed = parse_notice(payload)
        if parsed is not None and parsed[1] in self.users:
            self._balances.add(parsed[1])

    async def stop(self) -> None:
        self.view.unsubscribe(self.on_commit)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # ------------------------------------------------------------------ sending

    def _deliver(self, conn: KConn, text: str | Frame) -> None:
        if not conn.send(text):
            self.drop(conn)

    def _send(self, conn: KConn, message: dict[str, Any]) -> None:
        self._deliver(conn, dumps(message))

    def _channel(self, conn: KConn, key: tuple[str, int], text: str, ident: str | None) -> None:
        """A channel's update: held while the channel's snapshot is being read."""
        held = conn.holding.get(key)
        if held is not None:
            held.append((ident, text))
        else:
            self._deliver(conn, text)

    def _release(
        self, conn: KConn, key: tuple[str, int], seen: Callable[[str], bool] = lambda _: False
    ) -> None:
        """Send what was held while the snapshot was read, but what it already showed."""
        for ident, text in conn.holding.pop(key, []):
            if ident is None or not seen(ident):
                self._deliver(conn, text)

    def _answer(
        self, conn: KConn, method: str, req_id: Any, time_in: str, result: Any = None, **more: Any
    ) -> None:
        message: dict[str, Any] = {"method": method}
        if result is not None:
            message["result"] = result
        message.update(more)
        message["success"] = True
        if req_id is not None:
            message["req_id"] = req_id
        message["time_in"] = time_in
        message["time_out"] = rfc3339()
        self._send(conn, message)

    def _refuse(
        self, conn: KConn, method: Any, req_id: Any, time_in: str, error: str, **more: Any
    ) -> None:
        message: dict[str, Any] = {"error": error}
        if isinstance(method, str):
            message["method"] = method
        if req_id is not None:
            message["req_id"] = req_id
        message.update(more)
        message["success"] = False
        message["time_in"] = time_in
        message["time_out"] = rfc3339()
        self._send(conn, message)

    def status(self, conn: KConn) -> None:
        """Kraken's greeting: the system's status."""
        data = {
            "version": API_VERSION,
            "system": "online" if self.view.running else "maintenance",
            "api_version": "v2",
            "connection_id": conn.connection_id,
        }
        self._send(conn, {"channel": "status", "type": "update", "data": [data]})

    # ------------------------------------------------------------------ fan-out

    async def _dispatch_loop(self) -> None:
        while True:
            committed = await self._inbox.get()
            try:
                await self.dispatch(committed)
            except Exception:
                log.exception("kraken websocket dispatch failed")

    async def dispatch(self, committed: Committed) -> None:
        for change in committed.books:
            self._book_update(change)
        if not committed.fills and not committed.orders:
            return
        ids = FillIds()
        if committed.fills and (self._wants_trades(committed) or self.users):
            ids = await self._fill_ids(committed.fills)
        by_market: dict[int, list[FillRecord]] = defaultdict(list)
        for fill in committed.fills:
            by_market[fill.market_id].append(fill)
        for market_id, fills in by_market.items():
            self._dirty.add(market_id)
            if self.v1 is not None:
                self.v1.trades(market_id, fills, {k: t for k, (_, t) in ids.ids.items()})
            conns = self.subs.get(("trade", market_id))
            if conns:
                data = [self._public_trade(f, ids) for f in fills if ids.of(f) is not None]
                if data:
                    text = dumps({"channel": "trade", "type": "update", "data": data})
                    last = str(max(d["trade_id"] for d in data))
                    for conn in list(conns):
                        self._channel(conn, ("trade", market_id), text, last)
        if self.users:
            self._executions(committed, ids)
            if self.v1 is not None:
                self.v1.private(committed, ids.ids)

    def _wants_trades(self, committed: Committed) -> bool:
        return any(
            (name, f.market_id) in self.subs
            for f in committed.fills
            for name in ("trade", "v1:trade")
        )

    async def _fill_ids(self, fills: list[FillRecord]) -> FillIds:
        by_market: dict[int, list[int]] = defaultdict(list)
        for f in fills:
            by_market[f.market_id].append(f.match_id)
        out = FillIds()
        async with self.sessionmaker() as session:
            for market_id, matches in by_market.items():
                rows = await session.execute(
                    select(Fill.id, Fill.match_id, Fill.created_at).where(
                        Fill.market_id == market_id, Fill.match_id.in_(matches)
                    )
                )
                for fill_id, match_id, created_at in rows:
                    out.ids[(market_id, int(match_id))] = (int(fill_id), created_at)
        return out

    def _book_update(self, change: BookChange) -> None:
        m = change.market_id
        if change.before.bids[:1] != change.after.bids[:1] or (
            change.before.asks[:1] != change.after.asks[:1]
        ):
            self._bbo.add(m)
        conns = self.subs.get(("book", m))
        v1 = self.v1 is not None and (("v1:book", m) in self.subs or ("v1:spread", m) in self.subs)
        if not conns and not v1:
            return
        before_b = [(x.price, x.qty) for x in change.before.bids]
        before_a = [(x.price, x.qty) for x in change.before.asks]
        after_b = [(x.price, x.qty) for x in change.after.bids]
        after_a = [(x.price, x.qty) for x in change.after.asks]
        crc = checksum(after_a, after_b)
        if v1 and self.v1 is not None:
            self.v1.book_update(change, crc)
        if not conns:
            return
        stamp = rfc3339()
        texts: dict[int, Frame | None] = {}  # by depth: encoded once for its subscribers
        for conn in list(conns):
            if conn.book_from.get(m, 0) >= change.sequence:
                continue
            depth = conn.depths.get(m, DEFAULT_DEPTH)
            if depth not in texts:
                bids = book_delta(before_b, after_b, depth)
                asks = book_delta(before_a, after_a, depth)
                texts[depth] = None
                if bids or asks:
                    data = {
                        "symbol": self._symbol(m),
                        "bids": levels(bids),
                        "asks": levels(asks),
                        "checksum": crc,
                        "timestamp": stamp,
                    }
                    message = {"channel": "book", "type": "update", "data": [data]}
                    texts[depth] = Frame(dumps(message))
            text = texts[depth]
            if text is not None:
                self._deliver(conn, text)

    def _public_trade(self, f: FillRecord, ids: FillIds) -> dict[str, Any]:
        known = ids.of(f)
        assert known is not None
        fill_id, created_at = known
        return {
            "symbol": self._symbol(f.market_id),
            "side": f.taker_side,
            "price": num(f.price),
            "qty": num(f.qty),
            "ord_type": f.taker.type,
            "trade_id": fill_id,
            "timestamp": rfc3339(created_at),
        }

    # ------------------------------------------------------------------ executions

    def _executions(self, committed: Committed, ids: FillIds) -> None:
        by_user: dict[int, list[LiveOrder]] = defaultdict(list)
        for o in committed.orders:
            if o.user_id in self.users and o.status != "validated":
                by_user[o.user_id].append(o)
                self._balances.add(o.user_id)
        fills_by_user: dict[int, list[tuple[FillRecord, str]]] = defaultdict(list)
        for f in committed.fills:
            for order, role in ((f.taker, "taker"), (f.maker, "maker")):
                if order.user_id in self.users:
                    fills_by_user[order.user_id].append((f, role))
                    self._balances.add(order.user_id)
        for user_id in set(by_user) | set(fills_by_user):
            conns = [c for c in self.users.get(user_id, ()) if ("executions", 0) in c.subs]
            if not conns:
                continue
            orders = {o.id: o for o in by_user.get(user_id, [])}
            traded: dict[int, int] = defaultdict(int)  # order id -> fills in this group
            for f, role in fills_by_user.get(user_id, []):
                traded[(f.taker if role == "taker" else f.maker).id] += 1
            new = [
                self._order_entry(o, "new") for o in orders.values() if o.id in committed.created
            ]
            trades: list[tuple[str, dict[str, Any]]] = []
            seen: dict[int, int] = defaultdict(int)
            for f, role in fills_by_user.get(user_id, []):
                order = f.taker if role == "taker" else f.maker
                seen[order.id] += 1
                last = seen[order.id] == traded[order.id]
                final = orders.get(order.id)
                status = (
                    "filled" if last and final is not None and final.status == "filled" else None
                )
                entry = self._trade_entry(f, role, ids, status or "partially_filled")
                if entry is not None:
                    trades.append((entry["exec_id"], entry))
            statuses = []
            for o in orders.values():
                if o.status == "filled":
                    statuses.append(self._order_entry(o, "filled"))
                elif o.status == "cancelled":
                    statuses.append(self._order_entry(o, "canceled"))
                elif o.id in committed.created:
                    continue  # its "new" shows it as the group left it
                elif o.id in traded:  # partly filled: its totals (ccxt reads no trade's)
                    statuses.append(self._order_entry(o, "status"))
                else:
                    statuses.append(self._order_entry(o, "amended"))
            for conn in conns:
                key = ("executions", 0)
                if new:
                    self._channel(conn, key, self._exec_message(conn, new), None)
                for exec_id, entry in trades:
                    self._channel(conn, key, self._exec_message(conn, [entry]), exec_id)
                if statuses:
                    self._channel(conn, key, self._exec_message(conn, statuses), None)

    def _exec_message(self, conn: KConn, data: list[dict[str, Any]], kind: str = "update") -> str:
        conn.exec_seq += 1
        return dumps(
            {"channel": "executions", "type": kind, "data": data, "sequence": conn.exec_seq}
        )

    def _order_entry(self, live: LiveOrder | OrderOut, exec_type: str | None) -> dict[str, Any]:
        o = live if isinstance(live, OrderOut) else OrderOut.of(live, self._symbol(live.market_id))
        filled, quote = int(o.filled_qty), int(o.filled_quote)
        userref, cl_ord_id = split_client_id(o.client_order_id)
        entry: dict[str, Any] = {"order_id": order_txid(o.id)}
        if exec_type is not None:
            entry["exec_type"] = exec_type
        entry.update(
            {
                "symbol": o.market,
                "side": o.side,
                "order_type": kraken_ordertype(o),
                "order_status": _order_status(o),
                "time_in_force": o.time_in_force.upper(),
                "post_only": o.post_only,
                "order_userref": userref if userref is not None else 0,
                "cum_qty": num(filled),
                "cum_cost": num(quote),
                "avg_price": num(quote * UNIT // filled if filled else 0),
                "fee_ccy_pref": "fciq",
                "fees": [{"asset": "TAO", "qty": num(int(o.fee))}],
                "timestamp": rfc3339(o.closed_at or o.created_at),
            }
        )
        if o.qty is not None:
            entry["order_qty"] = num(int(o.qty))
        if o.quote_budget is not None:
            entry["cash_order_qty"] = num(int(o.quote_budget))
        if o.price is not None:
            entry["limit_price"] = num(int(o.price))
        if o.trigger_price is not None:
            entry["stop_price"] = num(int(o.trigger_price))
        if cl_ord_id is not None:
            entry["cl_ord_id"] = cl_ord_id
        if o.status == "cancelled":
            entry["cancel_reason"] = entry["reason"] = _reason(o.cancel_reason)
        return entry

    def _trade_entry(
        self, f: FillRecord, role: str, ids: FillIds, status: str
    ) -> dict[str, Any] | None:
        known = ids.of(f)
        if known is None:
            return None
        fill_id, created_at = known
        order = f.taker if role == "taker" else f.maker
        userref, cl_ord_id = split_client_id(order.client_order_id)
        entry: dict[str, Any] = {
            "order_id": order_txid(order.id),
            "exec_id": trade_txid(fill_id, role == "taker"),
            "exec_type": "trade",
            "trade_id": fill_id,
            "symbol": self._symbol(f.market_id),
            "side": order.side,
            "last_qty": num(f.qty),
            "last_price": num(f.price),
            "liquidity_ind": "t" if role == "taker" else "m",
            "cost": num(f.quote),
            "order_userref": userref if userref is not None else 0,
            "order_status": status,
            "order_type": order.type,
            "fees": [{"asset": "TAO", "qty": num(f.taker_fee if role == "taker" else f.maker_fee)}],
            "timestamp": rfc3339(created_at),
        }
        if cl_ord_id is not None:
            entry["cl_ord_id"] = cl_ord_id
        return entry

    def _fill_entry(self, f: FillOut, ordertype: str) -> dict[str, Any]:
        """A trade of the executions snapshot (`snap_trades`), from the stored fill."""
        return {
            "order_id": order_txid(f.order_id),
            "exec_id": trade_txid(f.id, f.liquidity == "taker"),
            "exec_type": "trade",
            "trade_id": f.id,
            "symbol": f.market,
            "side": f.side,
            "last_qty": num(int(f.qty)),
            "last_price": num(int(f.price)),
            "liquidity_ind": "t" if f.liquidity == "taker" else "m",
            "cost": num(int(f.quote)),
            "order_type": ordertype,
            "fees": [{"asset": "TAO", "qty": num(int(f.fee))}],
            "timestamp": rfc3339(f.created_at),
        }

    # ------------------------------------------------------------------ refresh

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh)
            try:
                await self._refresh()
            except Exception:
                log.exception("kraken websocket refresh failed")

    async def _refresh(self) -> None:
        dirty, self._dirty = self._dirty, set()
        bbo, self._bbo = self._bbo, set()
        users, self._balances = self._balances, set()
        if not (dirty or bbo or users):
            return
        async with self.sessionmaker() as session:
            if self.v1 is not None and dirty:
                await self.v1.refresh(session, dirty)
            for market_id in dirty | bbo:
                conns = [
                    c
                    for c in self.subs.get(("ticker", market_id), ())
                    if market_id in dirty or market_id in c.bbo
                ]
                if conns:
                    text = dumps(
                        {
                            "channel": "ticker",
                            "type": "update",
                            "data": [await self._ticker(session, market_id)],
                        }
                    )
                    for conn in conns:
                        self._channel(conn, ("ticker", market_id), text, None)
            for market_id in dirty:
                for interval in OHLC_INTERVALS:
                    conns = list(self.subs.get((f"ohlc:{interval}", market_id), ()))
                    if conns:
                        step = timedelta(minutes=interval)
                        now = datetime.now(UTC)
                        since = md.bucket_start(now - timedelta(seconds=5), step)
                        candles = await md.candles_by_step(session, market_id, step, since, now)
                        if candles:
                            data = [self._candle(market_id, interval, c) for c in candles]
                            text = dumps({"channel": "ohlc", "type": "update", "data": data})
                            for conn in conns:
                                self._channel(conn, (f"ohlc:{interval}", market_id), text, None)
            for user_id in users:
                conns = [c for c in self.users.get(user_id, ()) if ("balances", 0) in c.subs]
                if conns:
                    rows = await _balances(session, user_id)
                    for conn in conns:
                        self._balance_update(conn, rows)

    def _balance_update(self, conn: KConn, rows: dict[str, int]) -> None:
        data = []
        stamp = rfc3339()
        for asset, balance in sorted(rows.items()):
            before = conn.balances.get(asset, 0)
            if balance == before:
                continue
            conn.balances[asset] = balance
            data.append(
                {
                    "asset": asset,
                    "asset_class": "currency",
                    "amount": Num(_signed(balance - before)),
                    "balance": num(balance),
                    "fee": num(0),
                    "ledger_id": "",
                    "ref_id": "",
                    "timestamp": stamp,
                    "type": "trade",
                    "subtype": "",
                    "category": "trade",
                    "wallet_type": "spot",
                    "wallet_id": "main",
                }
            )
        if data:
            conn.balance_seq += 1
            message = {
                "channel": "balances",
                "type": "update",
                "data": data,
                "sequence": conn.balance_seq,
            }
            self._channel(conn, ("balances", 0), dumps(message), None)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat / 2)
            idle = time.monotonic() - self.heartbeat
            for conn in [c for c in self.connections if c.subs and c.last_sent < idle]:
                conn.last_sent = time.monotonic()
                self._deliver(conn, conn.heartbeat)

    # ------------------------------------------------------------------ requests

    async def handle(self, conn: KConn, raw: str) -> None:
        time_in = rfc3339()
        try:
            msg = parse_json(raw)
        except AppError:
            self._refuse(conn, None, None, time_in, MALFORMED)
            return
        if not isinstance(msg, dict):
            self._refuse(conn, None, None, time_in, MALFORMED)
            return
        method, req_id = msg.get("method"), msg.get("req_id")
        params = msg.get("params", {})
        if not isinstance(params, dict):
            self._refuse(conn, method, req_id, time_in, MALFORMED)
            return
        try:
            if method == "ping":
                self._answer(conn, "pong", req_id, time_in)
            elif method in ("subscribe", "unsubscribe"):
                await self._subscription(conn, method, params, req_id, time_in)
            elif isinstance(method, str) and method in METHODS:
                await self._method(conn, method, params, req_id, time_in)
            else:
                self._refuse(conn, method, req_id, time_in, METHOD_NOT_FOUND)
        except WsError as exc:
            self._refuse(conn, method, req_id, time_in, exc.error, **exc.extra)
        except Exception as exc:
            self._refuse(conn, method, req_id, time_in, _error_text(exc))

    async def _principal(self, token: object, scope: Scope) -> Principal:
        try:
            key_id = self.tokens.verify(token)
            async with self.sessionmaker() as session:
                principal = await principal_of(session, key_id)
        except AppError as exc:
            if exc.status_code == 503:
                raise
            raise WsError(INVALID_SESSION) from None
        if scope.value not in principal.scopes:
            raise WsError(INVALID_PERMISSIONS)
        return principal

    async def _market(self, session: AsyncSession, symbol: object) -> Market:
        if not isinstance(symbol, str) or len(symbol) > 32:
            raise WsError(f"{PAIR_NOT_SUPPORTED} {symbol}", symbol=symbol)
        try:
            market = await get_market(session, symbol)
        except MarketNotFound:
            raise WsError(f"{PAIR_NOT_SUPPORTED} {symbol}", symbol=symbol) from None
        self.symbols[market.id] = market.symbol
        return market

    async def _subscription(
        self, conn: KConn, method: str, params: dict[str, Any], req_id: Any, time_in: str
    ) -> None:
        channel = params.get("channel")
        if channel in ("executions", "balances"):
            await self._private_subscription(conn, method, str(channel), params, req_id, time_in)
            return
        if channel in ("status", "heartbeat"):
            self._answer(conn, method, req_id, time_in, {"channel": channel})
            return
        if channel == "instrument":
            key = ("instrument", 0)
            if method == "unsubscribe":
                self._forget(conn, key)
                self._answer(conn, method, req_id, time_in, {"channel": channel})
                return
            self._register(conn, key)
            self._answer(conn, method, req_id, time_in, {"channel": channel, "snapshot": True})
            async with self.sessionmaker() as session:
                data = await _instruments(session)
            self._send(conn, {"channel": "instrument", "type": "snapshot", "data": data})
            return
        if channel not in ("book", "ticker", "trade", "ohlc"):
            raise WsError(CHANNEL_INVALID)
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols or len(symbols) > 100:
            raise WsError(MALFORMED)
        depth = params.get("depth", DEFAULT_DEPTH)
        if channel == "book" and depth not in BOOK_DEPTHS:
            raise WsError(DEPTH_NOT_SUPPORTED)
        interval = params.get("interval")
        if channel == "ohlc" and interval not in OHLC_INTERVALS:
            raise WsError(INTERVAL_NOT_SUPPORTED)
        trigger = params.get("event_trigger", "trades")
        if channel == "ticker" and trigger not in ("trades", "bbo"):
            raise WsError(MALFORMED)
        snapshot = params.get("snapshot", True) is not False
        name = f"ohlc:{interval}" if channel == "ohlc" else str(channel)
        for symbol in symbols:
            async with self.sessionmaker() as session:
                try:
                    market = await self._market(session, symbol)
                except WsError as exc:
                    self._refuse(conn, method, req_id, time_in, exc.error, **exc.extra)
                    continue
                key = (name, market.id)
                result: dict[str, Any] = {"channel": channel, "symbol": market.symbol}
                if channel == "book":
                    result["depth"] = depth
                if channel == "ohlc":
                    result["interval"] = interval
                if channel == "ticker":
                    result["event_trigger"] = trigger
                if method == "unsubscribe":
                    self._forget(conn, key)
                    self._answer(conn, method, req_id, time_in, result)
                    continue
                result["snapshot"] = snapshot
                if channel == "book":
                    self._answer(conn, method, req_id, time_in, result)
                    self._book_snapshot(conn, market, int(depth), snapshot)
                    continue
                conn.holding[key] = []
                self._register(conn, key)
                if channel == "ticker":
                    (conn.bbo.add if trigger == "bbo" else conn.bbo.discard)(market.id)
                self._answer(conn, method, req_id, time_in, result)
                shown = 0  # the last trade the snapshot shows
                try:
                    if channel == "ticker":
                        ticker = [await self._ticker(session, market.id)]
                        self._send(conn, {"channel": "ticker", "type": "snapshot", "data": ticker})
                    elif channel == "trade":
                        rows = await md.recent_trades(session, market.id, None, SNAPSHOT_TRADES)
                        shown = max((t.id for t in rows), default=0)
                        if snapshot:
                            trades = [_snapshot_trade(market.symbol, t) for t in reversed(rows)]
                            message = {"channel": "trade", "type": "snapshot", "data": trades}
                            self._send(conn, message)
                    elif snapshot and channel == "ohlc":
                        candles = await self._candles(session, market.id, int(interval or 0))
                        self._send(conn, {"channel": "ohlc", "type": "snapshot", "data": candles})
                finally:
                    self._release(conn, key, functools.partial(_shown, shown))
                if channel != "trade":
                    self._dirty.add(market.id)  # what changed while the snapshot was read

    def _register(self, conn: KConn, key: tuple[str, int]) -> None:
        self.subs[key].add(conn)
        conn.subs.add(key)

    def _forget(self, conn: KConn, key: tuple[str, int]) -> None:
        conns = self.subs.get(key)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.subs[key]
        conn.subs.discard(key)
        conn.holding.pop(key, None)
        if key[0] == "book":
            conn.book_from.pop(key[1], None)
            conn.depths.pop(key[1], None)

    def _book_snapshot(self, conn: KConn, market: Market, depth: int, snapshot: bool) -> None:
        """The snapshot and the registration in one step of the event loop: every later
        update has a larger sequence, every earlier one is in the snapshot."""
        book = self.view.depth(market.id)
        conn.book_from[market.id] = self.view.sequence(market.id)
        conn.depths[market.id] = depth
        self._register(conn, ("book", market.id))
        if not snapshot:
            return
        bids: list[Level] = [(x.price, x.qty) for x in book.bids]
        asks: list[Level] = [(x.price, x.qty) for x in book.asks]
        data = {
            "symbol": market.symbol,
            "bids": levels(bids[:depth]),
            "asks": levels(asks[:depth]),
            "checksum": checksum(asks, bids),
        }
        self._send(conn, {"channel": "book", "type": "snapshot", "data": [data]})

    async def _private_subscription(
        self,
        conn: KConn,
        method: str,
        channel: str,
        params: dict[str, Any],
        req_id: Any,
        time_in: str,
    ) -> None:
        principal = await self._principal(params.get("token"), Scope.READ)
        key = (channel, 0)
        if method == "unsubscribe":
            self._forget(conn, key)
            self._answer(conn, method, req_id, time_in, {"channel": channel})
            return
        self._bind(conn, principal)
        conn.holding[key] = []
        self._register(conn, key)
        seen: set[str] = set()  # the trades the snapshot shows
        try:
            if channel == "executions":
                snap_orders = params.get("snap_orders", True) is not False
                snap_trades = params.get("snap_trades", False) is True
                result = {"channel": channel, "snapshot": snap_orders, "snap_trades": snap_trades}
                self._answer(conn, method, req_id, time_in, result)
                async with self.sessionmaker() as session:
                    if snap_orders:
                        orders, _ = await orders_service.list_orders(
                            session,
                            principal.user_id,
                            orders_service.OrderFilter(status="open"),
                            None,
                            private.OPEN_LIMIT,
                        )
                        data = [self._order_entry(o, None) for o in reversed(orders)]
                        text = self._exec_message(conn, data, "snapshot")
                        self._deliver(conn, text)
                    if snap_trades:
                        fills, _ = await orders_service.page_fills(
                            session, principal.user_id, None, None, 0, SNAPSHOT_TRADES
                        )
                        types = await orders_service.order_types(
                            session, {f.order_id for f in fills}
                        )
                        entries = [self._fill_entry(f, types[f.order_id]) for f in fills]
                        seen = {e["exec_id"] for e in entries}
                        if entries:
                            text = self._exec_message(conn, list(reversed(entries)), "snapshot")
                            self._deliver(conn, text)
            else:
                self._answer(conn, method, req_id, time_in, {"channel": channel, "snapshot": True})
                async with self.sessionmaker() as session:
                    rows = await _balances(session, principal.user_id)
                conn.balances = dict(rows)
                conn.balance_seq += 1
                data = [
                    {
                        "asset": asset,
                        "asset_class": "currency",
                        "balance": num(balance),
                        "wallets": [{"type": "spot", "id": "main", "balance": num(balance)}],
                    }
                    for asset, balance in sorted(rows.items())
                ]
                message = {
                    "channel": "balances",
                    "type": "snapshot",
                    "data": data,
                    "sequence": conn.balance_seq,
                }
                self._send(conn, message)
                self._balances.add(principal.user_id)  # what changed while it was read
        finally:
            self._release(conn, key, seen.__contains__)
        # A revocation that committed while this subscription was being set up.
        if not await self.sessions.live([principal.api_key_id]):
            self.key_revoked(principal.api_key_id)

    def _bind(self, conn: KConn, principal: Principal) -> None:
        """The connection's private channels are this key's (another user's: dropped)."""
        if conn.user_id is not None and conn.user_id != principal.user_id:
            self._drop_private(conn)
        self.sessions.bind(conn, principal)

    async def _method(
        self, conn: KConn, method: str, params: dict[str, Any], req_id: Any, time_in: str
    ) -> None:
        principal = await self._principal(params.get("token"), Scope.TRADE)
        translate, handler, answer = METHODS[method]
        rest = translate({k: v for k, v in params.items() if k != "token"})
        async with self.sessionmaker() as session:
            ctx = Context(conn.ws, session, Params(rest), principal)
            try:
                if method == "cancel_order":
                    await self._cancel_each(conn, ctx, rest, req_id, time_in)
                    return
                result = await handler(ctx)
            except BaseException:
                with contextlib.suppress(Exception):
                    await session.rollback()
                raise
        answer(self, conn, req_id, time_in, result)

    async def _cancel_each(
        self, conn: KConn, ctx: Context, rest: dict[str, Any], req_id: Any, time_in: str
    ) -> None:
        """Kraken answers `cancel_order` once per order named."""
        targets: list[tuple[str, str]] = [("txid", t) for t in rest.get("txid", [])]
        targets += [("cl_ord_id", c) for c in rest.get("cl_ord_id", [])]
        if not targets:
            raise WsError("EGeneral:Invalid arguments:order_id")
        answers: list[tuple[str | None, dict[str, Any]]] = []  # (error, result)
        for name, value in targets:
            ctx.params = Params({name: value})
            try:
                await private.cancel_order(ctx)
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await ctx.session.rollback()
                answers.append((_error_text(exc), {}))
                continue
            answers.append((None, {"order_id" if name == "txid" else "cl_ord_id": value}))
        # Answered once all are done: a client resolved by the first sees every cancel.
        for error, result in answers:
            if error is not None:
                self._refuse(conn, "cancel_order", req_id, time_in, error)
            else:
                self._answer(conn, "cancel_order", req_id, time_in, result)

    # ------------------------------------------------------------------ revocations

    def key_revoked(self, key_id: int) -> None:
        for conn in self.sessions.revoked(key_id):
            conn.close(CLOSE_REVOKED, "key revoked")
            self.drop(conn)

    async def recheck_keys(self) -> None:
        for key_id in await self.sessions.dead_keys():
            self.key_revoked(key_id)

    def _drop_private(self, conn: KConn) -> None:
        if conn.user_id is not None:
            for name in ("executions", "balances", "v1:openOrders", "v1:ownTrades"):
                self._forget(conn, (name, 0))
        self.sessions.unbind(conn)

    def drop(self, conn: KConn) -> None:
        for key in list(conn.subs):
            self._forget(conn, key)
        self._drop_private(conn)
        self.connections.discard(conn)

    # ------------------------------------------------------------------ formatting

    def _symbol(self, market_id: int) -> str:
        return self.view.symbol(market_id) or self.symbols.get(market_id) or str(market_id)

    async def _ticker(self, session: AsyncSession, market_id: int) -> dict[str, Any]:
        market = await session.get(Market, market_id)
        assert market is not None
        t = await md.ticker(session, self.view, market)
        last = t.last_price or 0
        change = t.change or 0
        return {
            "symbol": market.symbol,
            "bid": num(t.best_bid or 0),
            "bid_qty": num(t.best_bid_qty or 0),
            "ask": num(t.best_ask or 0),
            "ask_qty": num(t.best_ask_qty or 0),
            "last": num(last),
            "volume": num(t.volume),
            "vwap": num(t.vwap or 0),
            "low": num(t.low if t.low is not None else last),
            "high": num(t.high if t.high is not None else last),
            "change": Num(_signed(change)),
            "change_pct": Num(_percent(t.change_bps or 0)),
        }

    async def _candles(
        self, session: AsyncSession, market_id: int, interval: int
    ) -> list[dict[str, Any]]:
        step = timedelta(minutes=interval)
        now = datetime.now(UTC)
        rows = await md.candles_by_step(session, market_id, step, now - step * OHLC_SNAPSHOT, now)
        return [self._candle(market_id, interval, c) for c in rows]

    def _candle(self, market_id: int, interval: int, c: md.Candle) -> dict[str, Any]:
        return {
            "symbol": self._symbol(market_id),
            "open": num(c.open),
            "high": num(c.high),
            "low": num(c.low),
            "close": num(c.close),
            "trades": c.trades,
            "volume": num(c.volume),
            "vwap": num(c.quote_volume * UNIT // c.volume if c.volume else 0),
            "interval_begin": rfc3339_ns(c.start),
            "interval": interval,
            "timestamp": rfc3339(c.start + timedelta(minutes=interval)),
        }


def _shown(shown: int, last: str) -> bool:
    """Was a held trade message (its last trade id) already in the snapshot?"""
    return int(last) <= shown


def _signed(amount: int) -> str:
    return ("-" if amount < 0 else "") + str(num(abs(amount)))


def _percent(bps: int) -> str:
    sign = "-" if bps < 0 else ""
    whole, frac = divmod(abs(bps), 100)
    return f"{sign}{whole}.{frac:02d}"


def _order_status(o: OrderOut) -> str:
    if o.status in ("open", "untriggered"):
        return "partially_filled" if int(o.filled_qty) else "new"
    return {"filled": "filled", "cancelled": "canceled"}.get(o.status, STATUS.get(o.status, ""))


def _reason(reason: str | None) -> str:
    return {
        None: "User requested",
        "user": "User requested",
        "ioc": "Partial fill",
    }.get(reason, (reason or "").replace("_", " "))


def _snapshot_trade(symbol: str, t: md.Trade) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "side": t.taker_side,
        "price": num(t.price),
        "qty": num(t.qty),
        "ord_type": "limit",  # the stored fill does not say which order type took
        "trade_id": t.id,
        "timestamp": rfc3339(t.time),
    }


async def _balances(session: AsyncSession, user_id: int) -> dict[str, int]:
    """Kraken's balances: spot (available and held) per asset; staked alpha as `SN1.B`, as
    the REST Balance shows it."""
    out: dict[str, int] = {}
    for b in await user_balances(session, user_id):
        out[b.asset] = b.available + b.held
        if b.staked:
            out[f"{b.asset}.B"] = b.staked
    return out


async def _instruments(session: AsyncSession) -> dict[str, Any]:
    assets = list(await session.scalars(select(Asset).order_by(Asset.code)))
    markets = list(
        await session.scalars(
            select(Market).where(Market.state != DELISTED).order_by(Market.netuid)
        )
    )
    status = {
        "trading": "online",
        "post_only": "post_only",
        "cancel_only": "cancel_only",
        "halted": "maintenance",
    }
    return {
        "assets": [
            {
                "id": a.code,
                "status": "enabled" if a.status == "active" else "disabled",
                "precision": a.decimals,
                "precision_display": min(a.decimals, 6),
                "borrowable": False,
                "collateral_value": num(0),
                "margin_rate": num(0),
            }
            for a in assets
        ],
        "pairs": [
            {
                "symbol": m.symbol,
                "base": m.base_asset,
                "quote": m.quote_asset,
                "status": status.get(m.state, m.state),
                "qty_precision": decimals_of(m.lot_size),
                "qty_increment": num(m.lot_size),
                "price_precision": decimals_of(m.tick_size),
                "price_increment": num(m.tick_size),
                "cost_precision": 9,
                "cost_min": num(m.min_notional),
                "qty_min": num(m.min_size),
                "marginable": False,
                "has_index": False,
            }
            for m in markets
        ],
    }


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, WsError):
        return exc.error
    if isinstance(exc, KrakenError):
        return ws_error(exc.error)
    error = exc if isinstance(exc, AppError) else classify(exc)
    if error is None:
        log.exception("kraken websocket method failed", exc_info=exc)
        return INTERNAL
    return ws_error(kraken_error(error))


# ---------------------------------------------------------------------------- methods


def _text(value: object, name: str) -> str:
    text = decimal_text(value)
    if text is None:
        raise WsError(f"EGeneral:Invalid arguments:{name}")
    return text


V2_TO_REST_STP = {
    "cancel_newest": "cancel-newest",
    "cancel_oldest": "cancel-oldest",
    "cancel_both": "cancel-both",
}
ADD_FIELDS = {
    "order_type",
    "side",
    "order_qty",
    "symbol",
    "limit_price",
    "limit_price_type",
    "triggers",
    "time_in_force",
    "post_only",
    "reduce_only",
    "margin",
    "stp_type",
    "cash_order_qty",
    "validate",
    "cl_ord_id",
    "order_userref",
    "fee_preference",
    "no_mpp",
    "effective_time",
    "expire_time",
    "deadline",
    "display_qty",
    "conditional",
}


def _order(p: dict[str, Any], *, batch: bool = False) -> dict[str, Any]:
    """An order of `add_order` (or of `batch_add`'s `orders`) in the REST AddOrder's words."""
    for name in p:
        if name not in ADD_FIELDS:
            raise WsError(f"EGeneral:Invalid arguments:{name}")
    rest: dict[str, Any] = {"type": p.get("side"), "ordertype": p.get("order_type")}
    if not batch:
        rest["pair"] = p.get("symbol")
    ordertype = p.get("order_type")
    flags = []
    if p.get("cash_order_qty") is not None:
        rest["volume"] = _text(p["cash_order_qty"], "cash_order_qty")
        flags.append("viqc")
    elif p.get("order_qty") is not None:
        rest["volume"] = _text(p["order_qty"], "order_qty")
    triggers = p.get("triggers")
    if triggers is not None:
        if not isinstance(triggers, dict):
            raise WsError("EGeneral:Invalid arguments:triggers")
        price = _text(triggers.get("price"), "triggers")
        if ordertype in ("trailing-stop", "trailing-stop-limit"):
            percent = triggers.get("price_type") == "pct"
            price = "+" + price.lstrip("+") + ("%" if percent else "")
        elif triggers.get("price_type", "static") not in ("static", "quote"):
            raise WsError("EGeneral:Invalid arguments:triggers")
        rest["price"] = price
        if triggers.get("reference", "last") != "last":
            rest["trigger"] = triggers.get("reference")
        if p.get("limit_price") is not None:
            rest["price2"] = _text(p["limit_price"], "limit_price")
    elif p.get("limit_price") is not None:
        rest["price"] = _text(p["limit_price"], "limit_price")
    if p.get("post_only") is True:
        flags.append("post")
    if flags:
        rest["oflags"] = ",".join(flags)
    if p.get("time_in_force") is not None:
        rest["timeinforce"] = str(p["time_in_force"]).upper()
    if p.get("stp_type") is not None:
        rest["stptype"] = V2_TO_REST_STP.get(str(p["stp_type"]), str(p["stp_type"]))
    for v2, v0 in (
        ("cl_ord_id", "cl_ord_id"),
        ("order_userref", "userref"),
        ("reduce_only", "reduce_only"),
        ("effective_time", "starttm"),
        ("expire_time", "expiretm"),
        ("display_qty", "displayvol"),
    ):
        if p.get(v2) is not None:
            rest[v0] = p[v2]
    if p.get("margin") is True:
        rest["leverage"] = "2"
    if p.get("conditional") is not None:
        rest["close"] = "conditional"
    if p.get("validate") is True:
        rest["validate"] = True
    return rest


def _add_order(p: dict[str, Any]) -> dict[str, Any]:
    return _order(p)


def _batch_add(p: dict[str, Any]) -> dict[str, Any]:
    orders = p.get("orders")
    if not isinstance(orders, list) or not orders:
        raise WsError("EGeneral:Invalid arguments:orders")
    if any(not isinstance(o, dict) for o in orders):
        raise WsError("EGeneral:Invalid arguments:orders")
    rest: dict[str, Any] = {
        "pair": p.get("symbol"),
        "orders": [_order(o, batch=True) for o in orders],
    }
    if p.get("validate") is True:
        rest["validate"] = True
    return rest


def _target(p: dict[str, Any]) -> dict[str, Any]:
    rest: dict[str, Any] = {}
    if p.get("order_id") is not None:
        rest["txid"] = p["order_id"]
    if p.get("cl_ord_id") is not None:
        rest["cl_ord_id"] = p["cl_ord_id"]
    return rest


def _amend_order(p: dict[str, Any]) -> dict[str, Any]:
    rest = _target(p)
    if p.get("order_qty") is not None:
        rest["order_qty"] = _text(p["order_qty"], "order_qty")
    if p.get("limit_price") is not None:
        rest["limit_price"] = _text(p["limit_price"], "limit_price")
    if p.get("trigger_price") is not None:
        rest["trigger_price"] = _text(p["trigger_price"], "trigger_price")
    if p.get("display_qty") is not None:
        rest["display_qty"] = p["display_qty"]
    return rest


def _edit_order(p: dict[str, Any]) -> dict[str, Any]:
    rest = _target(p)
    rest["pair"] = p.get("symbol")
    if p.get("order_qty") is not None:
        rest["volume"] = _text(p["order_qty"], "order_qty")
    if p.get("limit_price") is not None:
        rest["price"] = _text(p["limit_price"], "limit_price")
    if p.get("post_only") is True:
        rest["oflags"] = "post"
    return rest


def _ids(value: object, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 50:
        raise WsError(f"EGeneral:Invalid arguments:{name}")
    return [str(v) for v in value if isinstance(v, str | int) and not isinstance(v, bool)]


def _cancel_order(p: dict[str, Any]) -> dict[str, Any]:
    txids = _ids(p.get("order_id"), "order_id") + _ids(p.get("order_userref"), "order_userref")
    return {"txid": txids, "cl_ord_id": _ids(p.get("cl_ord_id"), "cl_ord_id")}


def _cancel_all(p: dict[str, Any]) -> dict[str, Any]:
    return {}


def _cancel_after(p: dict[str, Any]) -> dict[str, Any]:
    return {"timeout": p.get("timeout")}


def _batch_cancel(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "orders": _ids(p.get("orders"), "orders"),
        "cl_ord_ids": _ids(p.get("cl_ord_id"), "cl_ord_id"),
    }


Answer = Callable[[KrakenFeed, KConn, Any, str, Any], None]


def _added(feed: KrakenFeed, conn: KConn, req_id: Any, time_in: str, result: Any) -> None:
    out: dict[str, Any] = {}
    if "txid" in result:
        out["order_id"] = result["txid"][0]
    if "cl_ord_id" in result:
        out["cl_ord_id"] = result["cl_ord_id"]
    feed._answer(conn, "add_order", req_id, time_in, out)


def _batch_added(feed: KrakenFeed, conn: KConn, req_id: Any, time_in: str, result: Any) -> None:
    out = []
    for r in result["orders"]:
        item: dict[str, Any] = {}
        if "txid" in r:
            item["order_id"] = r["txid"]
        if "cl_ord_id" in r:
            item["cl_ord_id"] = r["cl_ord_id"]
        out.append(item)
    feed._answer(conn, "batch_add", req_id, time_in, out)


def _amended(feed: KrakenFeed, conn: KConn, req_id: Any, time_in: str, result: Any) -> None:
    out = {"amend_id": result["amend_id"], "order_id": result["txid"]}
    if result.get("cl_ord_id"):
        out["cl_ord_id"] = result["cl_ord_id"]
    feed._answer(conn, "amend_order", req_id, time_in, out)


def _edited(feed: KrakenFeed, conn: KConn, req_id: Any, time_in: str, result: Any) -> None:
    out = {"order_id": result["txid"], "original_order_id": result["originaltxid"]}
    feed._answer(conn, "edit_order", req_id, time_in, out)


def _cancelled_all(feed: KrakenFeed, conn: KConn, req_id: Any, time_in: str, result: Any) -> None:
    feed._answer(conn, "cancel_all", req_id, time_in, {"count": result["count"]})


def _after(feed: KrakenFeed, conn: KConn, req_id: Any, time_in: str, result: Any) -> None:
    out = {"currentTime": result["currentTime"], "triggerTime": result["triggerTime"]}
    feed._answer(conn, "cancel_all_orders_after", req_id, time_in, out)


def _batch_cancelled(feed: KrakenFeed, conn: KConn, req_id: Any, time_in: str, result: Any) -> None:
    feed._answer(conn, "batch_cancel", req_id, time_in, None, orders_cancelled=result["count"])


def _unused(feed: KrakenFeed, conn: KConn, req_id: Any, time_in: str, result: Any) -> None:
    raise AssertionError("cancel_order answers once per order")


METHODS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], Method, Answer]] = {
    "add_order": (_add_order, private.add_order, _added),
    "batch_add": (_batch_add, private.add_order_batch, _batch_added),
    "amend_order": (_amend_order, private.amend_order, _amended),
    "edit_order": (_edit_order, private.edit_order, _edited),
    "cancel_order": (_cancel_order, private.cancel_order, _unused),
    "cancel_all": (_cancel_all, private.cancel_all, _cancelled_all),
    "cancel_all_orders_after": (_cancel_after, private.cancel_all_orders_after, _after),
    "batch_cancel": (_batch_cancel, private.cancel_order_batch, _batch_cancelled),
}


# ---------------------------------------------------------------------------- endpoint


async def serve(
    websocket: WebSocket,
    feed: KrakenFeed,
    greet: Callable[[KConn], None],
    handle: Callable[[KConn, str], Awaitable[None]],
) -> None:
    await websocket.accept()
    conn = KConn(websocket, feed.queue_size, feed.flusher)
    feed.connections.add(conn)
    greet(conn)

    async def receive() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                raw = message.get("bytes") or b""
                try:
                    text = raw.decode()
                except UnicodeDecodeError:
                    text = ""
            await handle(conn, text)

    tasks = [asyncio.create_task(conn.pump()), asyncio.create_task(receive())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        feed.drop(conn)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task


@router.websocket(V2_PATH)
async def kraken_v2(websocket: WebSocket) -> None:
    feed: KrakenFeed = websocket.app.state.kraken_ws
    await serve(websocket, feed, feed.status, feed.handle)
