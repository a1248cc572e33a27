"""The WebSocket feed `/v1/ws`: public channels per market, private channels per user.

Protocol (JSON text frames):

- client -> server: `{"op": "subscribe" | "unsubscribe", "channel": C, "market": "SN1/TAO"}`
  (public channels `book`, `trades`, `ticker`, `candles:<1m|5m|15m|1h|4h|1d>`),
  `{"op": "subscribe", "channel": "orders" | "fills" | "balances" | "deposits" |
  "withdrawals"}` (private, after `auth`),
  `{"op": "auth", "key": K, "nonce": N, "signature": S}` where S is the REST signature
  (Kraken scheme) over path `/v1/ws` and payload `nonce=N`, or `{"op": "auth", "token": T}`
  with a token from `POST /v1/ws/token` (`app.auth.tokens`: a browser never holds the
  secret); `{"op": "ping"}`. An optional `"id"` is echoed in the answer.
- server -> client: `{"event": "subscribed" | "unsubscribed" | "authenticated" | "pong" |
  "heartbeat" | "error", ...}` and data messages `{"channel": C, "market": M, ...}`.

Book: a `snapshot` (sequence = the book's `sequence`, and the service's `epoch`), then
`update`s carrying the changes of sequences `first` to `sequence`, where `first` is the
previous message's `sequence` + 1 (anything else is a gap: resubscribe; another `epoch` in a
new snapshot means the service restarted and the sequence began again). With
`EXCHANGE_WS_BATCH_MS` = 0 every committed change is its own update (`first` ==
`sequence`); above 0, a market's changes over that long are one update, and its trades one
`trades` message. Levels are `[price, qty, orders]` as they are after `sequence`; qty "0"
removes the level. Only committed state is published: the order service's read model
hands each committed group to `MarketDataHub.on_commit` (enqueue only), and the hub's own
task fans out.

Sending: a message for many connections is encoded once (`app.kit.wsframes`); what a
connection was sent during one step of the event loop leaves in one write. Slow consumers:
what a connection has not taken is bounded (messages waiting, or KiB the kernel did not
take); past that it is closed with code 4008 and reason "slow consumer" (it may reconnect
and resubscribe). The engine and the other connections never wait for it.

Revoked keys: when the key a connection authenticated with (signed, or by a token of that
key) is revoked (by any process: the
notice listener, `app.auth.revocation`, hands the hub each committed revocation,
`key_revoked`), what is still queued for it is dropped, it gets `{"event": "error",
"code": "key_revoked"}` and is closed with code 4001 "key revoked". After the listener
(re)connects, `recheck_keys` looks up every authenticated connection's key in `api_keys`,
as notices may have been missed meanwhile.

Deposits and withdrawals change in whichever process runs the custody worker: it announces
each change (`app.custody.notices`, LISTEN/NOTIFY on commit); the hub loads the row and
pushes it, as the native API shows it, to its owner's `deposits` / `withdrawals` channel,
and refreshes their `balances`.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.errors import MissingCredentials, PermissionDenied
from app.auth.scopes import Scope
from app.auth.service import Authenticator, Principal
from app.auth.sessions import Sessions
from app.auth.tokens import TokenIssuer, principal_of
from app.custody.notices import parse_notice
from app.custody.schemas import ChainDepositOut, WithdrawalOut
from app.kit.dberrors import classify
from app.kit.errors import AppError, InternalError
from app.kit.inputs import MalformedJson, parse_json
from app.kit.wsframes import Flusher, Frame, sink_of
from app.ledger.statement import user_balances
from app.marketdata import service
from app.marketdata.errors import (
    BinaryFrame,
    MarketRequired,
    NotAuthenticated,
    UnknownChannel,
    UnknownOp,
)
from app.markets.service import get_market
from app.matching import DepthLevel
from app.models import ChainDeposit, Withdrawal
from app.orders.commands import LiveOrder
from app.orders.readmodel import BookChange, Committed, FillRecord, OrdersView

log = logging.getLogger("app.marketdata")

router = APIRouter()

WS_PATH = "/v1/ws"
PUBLIC = ("book", "trades", "ticker", *(f"candles:{i}" for i in service.INTERVALS))
PRIVATE = ("orders", "fills", "balances", "deposits", "withdrawals")
CLOSE_SLOW = 4008
CLOSE_REVOKED = 4001
_CLOSE = None  # queue sentinel: close the connection


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def _frame(message: dict[str, Any]) -> Frame:
    """A message for several connections: encoded once."""
    return Frame(_dumps(message))


class Connection:
    """One client. Its messages leave in the order they were sent: written to its socket once
    per step of the event loop where the server offers a `FrameSink`, else through ASGI by
    `pump`. What it has not taken is bounded: past `queue_size` messages waiting it is closed
    as a slow consumer (code 4008); past that many KiB written that the kernel could not
    hand on (it stopped reading) it is dropped at once."""

    def __init__(self, websocket: WebSocket, queue_size: int, flusher: Flusher) -> None:
        self.ws = websocket
        # The ASGI path's messages; with a sink, only the close.
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(queue_size)
        self.queue_size = queue_size
        self.sink = sink_of(websocket.scope)
        self.flusher = flusher
        self.pending: list[bytes] = []  # frames for the sink, written by `flush`
        self.user_id: int | None = None
        self.key_id: int | None = None  # the API key it authenticated with
        self.book_from: dict[int, int] = {}  # market id -> snapshot sequence
        self.subs: set[tuple[str, int]] = set()  # (channel, market id or 0 for private)
        self.closing: tuple[int, str] | None = None
        self.farewell: str | None = None  # the last message, sent before the close frame
        self.last_sent = time.monotonic()

    def send(self, message: str | Frame) -> bool:
        """Enqueue without waiting; False (and the connection closes) when it is full."""
        if self.closing is not None:
            return False
        if self.sink is None:
            try:
                self.queue.put_nowait(message if isinstance(message, str) else message.text)
                return True
            except asyncio.QueueFull:
                self.close(CLOSE_SLOW, "slow consumer: outbound queue overflow")
                return False
        if not self.pending:  # the first since the last write: how much is still unread?
            if self.sink.buffered() > self.queue_size << 10:  # it stopped reading
                self.close(CLOSE_SLOW, "slow consumer: outbound queue overflow")
                self.sink.abort()
                return False
            self.flusher.mark(self.flush)
        elif len(self.pending) >= self.queue_size:
            self.close(CLOSE_SLOW, "slow consumer: outbound queue overflow")
            return False
        self.pending.append((message if isinstance(message, Frame) else Frame(message)).data)
        return True

    def flush(self) -> None:
        """Write what was sent since the last flush (the sink path), in one write."""
        if self.pending and self.closing is None and self.sink is not None:
            self.sink.write(b"".join(self.pending))
            self.last_sent = time.monotonic()
        self.pending.clear()

    def close(self, code: int, reason: str, farewell: str | None = None) -> None:
        """Drop everything still queued and close, after `farewell` if given."""
        if self.closing is not None:
            return
        self.closing = (code, reason)
        self.farewell = farewell
        self.pending.clear()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(_CLOSE)

    async def pump(self) -> None:
        while True:
            text = await self.queue.get()
            if text is None:
                code, reason = self.closing or (1000, "")
                with contextlib.suppress(Exception):
                    if self.farewell is not None:
                        await self.ws.send_text(self.farewell)
                    await self.ws.close(code, reason)
                return
            await self.ws.send_text(text)
            self.last_sent = time.monotonic()


class _Pending:
    """A market's book changes not yet published: from `first` (its depth before: `before`)
    to `last`."""

    __slots__ = ("before", "first", "last", "market_id")

    def __init__(self, change: BookChange) -> None:
        self.market_id = change.market_id
        self.first = change.sequence
        self.before = change.before
        self.last = change


class MarketDataHub:
    """Fans committed order-path events out to WebSocket connections."""

    def __init__(
        self,
        view: OrdersView,
        sessionmaker: async_sessionmaker[AsyncSession],
        authenticator: Authenticator,
        tokens: TokenIssuer | None = None,
        *,
        queue_size: int = 2000,
        batch: float = 0.0,
        heartbeat: float = 15.0,
        refresh: float = 0.5,
    ) -> None:
        self.view = view
        self.sessionmaker = sessionmaker
        self.symbols: dict[int, str] = {}  # markets subscribed to, as read from Postgres
        self.authenticator = authenticator
        self.tokens = tokens
        self.queue_size = queue_size
        self.flusher = Flusher()
        self.heartbeat = heartbeat
        self.refresh = refresh
        self.subs: dict[tuple[str, int], set[Connection]] = defaultdict(set)
        self.sessions: Sessions[Connection] = Sessions(sessionmaker)
        self.users = self.sessions.users  # signed-in connections by user
        self.connections: set[Connection] = set()
        self._inbox: asyncio.Queue[Committed] = asyncio.Queue()
        self._dirty: set[int] = set()  # markets with new trades: ticker/candles to refresh
        self.batch = batch  # seconds over which book and trades messages are gathered
        self._books: dict[int, _Pending] = {}  # market -> its book changes not yet published
        self._trades: dict[int, list[FillRecord]] = defaultdict(list)  # fills not yet published
        self._publishing = False
        self._balances: set[tuple[int, str]] = set()  # (user, asset) changed
        self._custody: set[tuple[str, int, int]] = set()  # (kind, user, row id) changed
        self._tasks: list[asyncio.Task[None]] = []
        self.delivered = 0
        self.dropped_connections = 0
        self.revoked_connections = 0

    # ------------------------------------------------------------------ lifecycle

    def on_commit(self, committed: Committed) -> None:
        """The sequencer's post-commit listener: enqueue only."""
        self._inbox.put_nowait(committed)

    async def start(self) -> None:
        self.view.subscribe(self.on_commit)
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="marketdata-dispatch"),
            asyncio.create_task(self._refresh_loop(), name="marketdata-refresh"),
            asyncio.create_task(self._heartbeat_loop(), name="marketdata-heartbeat"),
        ]

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.view.unsubscribe(self.on_commit)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # ------------------------------------------------------------------ fan-out

    async def _dispatch_loop(self) -> None:
        while True:
            committed = await self._inbox.get()
            try:
                self.dispatch(committed)
            except Exception:
                log.exception("market data dispatch failed")

    def dispatch(self, committed: Committed) -> None:
        if committed.epoch is not None:  # the books start again (a follower resynchronised)
            self._books.clear()  # the snapshots below hold them
            self._book_snapshots()
        else:
            for change in committed.books:
                pending = self._books.get(change.market_id)
                if pending is None:
                    pending = self._books[change.market_id] = _Pending(change)
                pending.last = change
        for fill in committed.fills:
            self._trades[fill.market_id].append(fill)
            self._dirty.add(fill.market_id)
        if self.users:
            self._private(committed)
        if self.batch > 0:
            if not self._publishing:
                self._publishing = True
                asyncio.get_running_loop().call_later(self.batch, self._publish_batch)
        else:
            self._publish()

    def _publish_batch(self) -> None:
        try:
            self._publish()
        except Exception:
            log.exception("market data dispatch failed")

    def _publish(self) -> None:
        """One `book` update per market of what changed since the last (sequences `first` to
        `sequence`), one `trades` message per market."""
        self._publishing = False
        books, self._books = self._books, {}
        trades, self._trades = self._trades, defaultdict(list)
        for pending in books.values():
            self._book_update(pending)
        for market_id, fills in trades.items():
            conns = self.subs.get(("trades", market_id))
            if conns:
                message = {
                    "channel": "trades",
                    "market": self._symbol(market_id),
                    "data": [_trade(f) for f in fills],
                }
                self._fanout(conns, _frame(message))

    def _book_snapshots(self) -> None:
        for (channel, market_id), conns in list(self.subs.items()):
            if channel == "book":
                for conn in list(conns):
                    self._book_snapshot(conn, market_id, self._symbol(market_id))

    def _book_snapshot(self, conn: Connection, market_id: int, symbol: str) -> None:
        """The book as the view has it now; later updates have larger sequences, earlier
        ones are in it."""
        depth = self.view.depth(market_id)
        seq = self.view.sequence(market_id)
        conn.book_from[market_id] = seq
        self._deliver(
            conn,
            _dumps(
                {
                    "channel": "book",
                    "market": symbol,
                    "type": "snapshot",
                    "sequence": seq,
                    "epoch": self.view.epoch,
                    "bids": [_level(x) for x in depth.bids],
                    "asks": [_level(x) for x in depth.asks],
                }
            ),
        )

    def _book_update(self, pending: _Pending) -> None:
        market_id, first, last = pending.market_id, pending.first, pending.last
        conns = self.subs.get(("book", market_id))
        if not conns:
            return
        message = _frame(
            {
                "channel": "book",
                "market": self._symbol(market_id),
                "type": "update",
                "first": first,
                "sequence": last.sequence,
                "bids": _diff(pending.before.bids, last.after.bids, reverse=True),
                "asks": _diff(pending.before.asks, last.after.asks, reverse=False),
            }
        )
        for conn in list(conns):
            start = conn.book_from.get(market_id, 0)
            if start < first:
                self._deliver(conn, message)
            elif start < last.sequence:  # its snapshot fell within these changes: a new one
                self._book_snapshot(conn, market_id, self._symbol(market_id))

    def _private(self, committed: Committed) -> None:
        for order in committed.orders:
            for conn in self._private_conns(order.user_id, "orders"):
                self._deliver(conn, _dumps({"channel": "orders", "data": self._order(order)}))
            if order.user_id in self.users:
                self._balances.add((order.user_id, order.hold_asset))
        for fill in committed.fills:
            sides = [(fill.taker, "taker", fill.taker_fee), (fill.maker, "maker", fill.maker_fee)]
            for order, role, fee in sides:
                for conn in self._private_conns(order.user_id, "fills"):
                    self._deliver(
                        conn, _dumps({"channel": "fills", "data": self._fill(fill, role, fee)})
                    )
                if order.user_id in self.users:
                    base = self._base(order)
                    self._balances.update({(order.user_id, "TAO"), (order.user_id, base)})

    def _private_conns(self, user_id: int, channel: str) -> Iterable[Connection]:
        return [c for c in self.users.get(user_id, ()) if (channel, 0) in c.subs]

    def _fanout(self, conns: Iterable[Connection], message: str | Frame) -> None:
        if not isinstance(message, Frame):
            message = Frame(message)
        for conn in list(conns):
            self._deliver(conn, message)

    def _deliver(self, conn: Connection, message: str | Frame) -> None:
        if conn.send(message):
            self.delivered += 1
        elif conn.closing is not None and conn.closing[0] == CLOSE_SLOW:
            self.dropped_connections += 1
            self.drop(conn)

    async def _heartbeat_loop(self) -> None:
        """A heartbeat to every connection that was sent nothing for `heartbeat` seconds."""
        while True:
            await asyncio.sleep(min(self.heartbeat / 3, 1.0))
            idle = time.monotonic() - self.heartbeat
            message = _frame({"event": "heartbeat", "time": time.time_ns()})
            for conn in [c for c in self.connections if c.last_sent < idle]:
                conn.last_sent = time.monotonic()
                self._deliver(conn, message)

    # ------------------------------------------------------------------ ticker, candles, balances

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh)
            try:
                await self._refresh()
            except Exception:
                log.exception("market data refresh failed")

    def custody_notice(self, payload: str) -> None:
        """A deposit or withdrawal changed (the notice listener's callback: enqueue only)."""
        parsed = parse_notice(payload)
        if parsed is not None and parsed[1] in self.users:
            self._custody.add(parsed)

    async def _custody_messages(self, session: AsyncSession) -> None:
        changed, self._custody = self._custody, set()
        for kind, user_id, row_id in sorted(changed):
            channel = f"{kind}s"
            row: ChainDeposit | Withdrawal | None = await session.get(
                ChainDeposit if kind == "deposit" else Withdrawal, row_id
            )
            if row is None or row.user_id != user_id:
                continue
            if row.asset is not None:
                self._balances.add((user_id, row.asset))
            holders = list(self._private_conns(user_id, channel))
            if not holders:
                continue
            data = (
                ChainDepositOut.of(row) if isinstance(row, ChainDeposit) else WithdrawalOut.of(row)
            )
            self._fanout(
                holders, _dumps({"channel": channel, "data": data.model_dump(mode="json")})
            )

    async def _refresh(self) -> None:
        dirty, self._dirty = self._dirty, set()
        if self._custody:
            async with self.sessionmaker() as session:
                await self._custody_messages(session)
        pending, self._balances = self._balances, set()
        if not dirty and not pending:
            return
        async with self.sessionmaker() as session:
            for market_id in dirty:
                for channel in ("ticker", *(f"candles:{i}" for i in service.INTERVALS)):
                    conns = self.subs.get((channel, market_id))
                    if conns:
                        message = await self._public_data(session, channel, market_id)
                        if message is not None:
                            self._fanout(conns, message)
            users: dict[int, set[str]] = defaultdict(set)
            for user_id, asset in pending:
                users[user_id].add(asset)
            for user_id, assets in users.items():
                holders = list(self._private_conns(user_id, "balances"))
                if holders:
                    self._fanout(holders, await _balances_message(session, user_id, assets))

    async def _public_data(self, session: AsyncSession, channel: str, market_id: int) -> str | None:
        symbol = self._symbol(market_id)
        if channel == "ticker":
            data = (await service.ticker_by_symbol(session, self.view, symbol)).as_json()
            return _dumps({"channel": channel, "market": symbol, "data": data})
        interval = channel.split(":", 1)[1]
        start = service.bucket_start(datetime.now(UTC), service.interval_of(interval))
        rows = await service.candles(session, market_id, interval, start, None)
        if not rows:
            return None
        return _dumps({"channel": channel, "market": symbol, "data": rows[-1].as_json()})

    # ------------------------------------------------------------------ requests

    async def handle(self, conn: Connection, raw: str) -> None:
        try:
            msg = parse_json(raw)  # clean text, nested at most MAX_JSON_DEPTH deep
        except AppError as exc:  # malformed_json, json_too_deep, invalid_text
            self._error(conn, None, exc)
            return
        if not isinstance(msg, dict):
            self._error(conn, None, MalformedJson("messages must be JSON objects"))
            return
        ref = msg.get("id")
        op = msg.get("op")
        try:
            if op == "ping":
                self._reply(conn, {"event": "pong", "id": ref, "time": time.time_ns()})
            elif op == "auth":
                await self._auth(conn, msg, ref)
            elif op in ("subscribe", "unsubscribe"):
                await self._subscription(conn, op, msg, ref)
            else:
                self._error(conn, ref, UnknownOp("op: subscribe, unsubscribe, auth or ping"))
        except Exception as exc:  # the database may be down: answer, keep the connection
            error = exc if isinstance(exc, AppError) else classify(exc)
            if error is None:
                log.exception("websocket message failed")
                error = InternalError("the message could not be handled")
            self._error(conn, ref, error)

    def refuse_binary(self, conn: Connection) -> None:
        self._error(conn, None, BinaryFrame("send JSON messages as text frames"))

    async def _auth(self, conn: Connection, msg: dict[str, Any], ref: Any) -> None:
        if "token" in msg and self.tokens is not None:
            principal = await self._token_principal(msg.get("token"))
        else:
            key, nonce, signature = msg.get("key"), msg.get("nonce"), msg.get("signature")
            if not isinstance(key, str) or not isinstance(signature, str):
                raise MissingCredentials("key, nonce and signature (or a token) are required")
            nonce_s = str(nonce) if isinstance(nonce, int | str) and nonce is not True else None
            principal = await self.authenticator.authenticate(
                key=key,
                signature=signature,
                path=WS_PATH,
                nonce=nonce_s,
                payload=f"nonce={nonce_s}".encode(),
                required=Scope.READ,
            )
        if conn.user_id is not None and conn.user_id != principal.user_id:
            self._drop_private(conn)
        self.sessions.bind(conn, principal)
        # A revocation that committed after the key passed `authenticate` but was notified
        # before the line above found nothing to close: look once more, now registered.
        if not await self.sessions.live([principal.api_key_id]):
            self.key_revoked(principal.api_key_id)
            return
        self._reply(conn, {"event": "authenticated", "id": ref, "user_id": principal.user_id})

    async def _token_principal(self, token: object) -> Principal:
        """The principal of a token's key (InvalidToken, TokenExpired, KeyRevoked, ...)."""
        assert self.tokens is not None
        key_id = self.tokens.verify(token)
        async with self.sessionmaker() as session:
            principal = await principal_of(session, key_id)
        if Scope.READ.value not in principal.scopes:
            raise PermissionDenied(f"this API key lacks the '{Scope.READ.value}' scope")
        return principal

    async def _subscription(self, conn: Connection, op: str, msg: dict[str, Any], ref: Any) -> None:
        channel = msg.get("channel")
        if channel in PRIVATE:
            if conn.user_id is None:
                self._error(conn, ref, NotAuthenticated("send an auth message first"))
                return
            key = (str(channel), 0)
            if op == "subscribe":
                conn.subs.add(key)
            else:
                conn.subs.discard(key)
            self._reply(conn, {"event": f"{op}d", "id": ref, "channel": channel})
            return
        if channel not in PUBLIC:
            self._error(conn, ref, UnknownChannel(f"channels: {', '.join(PUBLIC + PRIVATE)}"))
            return
        symbol = msg.get("market")
        if not isinstance(symbol, str):
            self._error(conn, ref, MarketRequired("public channels need a market"))
            return
        async with self.sessionmaker() as session:
            market = await get_market(session, symbol)  # MarketNotFound: market_not_found
            self.symbols[market.id] = market.symbol
            key = (str(channel), market.id)
            if op == "unsubscribe":
                self.subs[key].discard(conn)
                conn.subs.discard(key)
                if channel == "book":
                    conn.book_from.pop(market.id, None)
                answer = {"event": "unsubscribed", "channel": channel, "market": market.symbol}
                self._reply(conn, {**answer, "id": ref})
                return
            initial = None
            if channel != "book" and channel != "trades":
                initial = await self._public_data(session, str(channel), market.id)
        self._reply(
            conn, {"event": "subscribed", "id": ref, "channel": channel, "market": market.symbol}
        )
        if channel == "book":
            # Snapshot and registration in one step of the event loop: every later update
            # has a larger sequence, every earlier one is already in the snapshot (what was
            # gathered for the market goes out first, to the others).
            pending = self._books.pop(market.id, None)
            if pending is not None:
                self._book_update(pending)
            self._book_snapshot(conn, market.id, market.symbol)
        elif initial is not None:
            self._deliver(conn, initial)
        self.subs[key].add(conn)
        conn.subs.add(key)

    # ------------------------------------------------------------------ revocations

    def key_revoked(self, key_id: int) -> None:
        """A key was revoked (committed): close every connection authenticated with it,
        dropping what is still queued for them, with code 4001."""
        farewell = _dumps(
            {"event": "error", "code": "key_revoked", "message": "this API key has been revoked"}
        )
        for conn in self.sessions.revoked(key_id):
            conn.close(CLOSE_REVOKED, "key revoked", farewell)
            self.drop(conn)
            self.revoked_connections += 1

    async def recheck_keys(self) -> None:
        """Close the connections whose key is no longer live in `api_keys` (revocation
        notices may have been missed while the listener was disconnected)."""
        for key_id in await self.sessions.dead_keys():
            self.key_revoked(key_id)

    def _reply(self, conn: Connection, message: dict[str, Any]) -> None:
        self._deliver(conn, _dumps({k: v for k, v in message.items() if v is not None}))

    def _error(self, conn: Connection, ref: Any, error: AppError) -> None:
        answer = {"event": "error", "id": ref, "code": error.code, "message": error.message}
        self._reply(conn, answer)

    def drop(self, conn: Connection) -> None:
        """Forget a connection (closed, or too slow)."""
        for key in conn.subs:
            conns = self.subs.get(key)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self.subs[key]
        conn.subs.clear()
        self._drop_private(conn)
        self.connections.discard(conn)

    def _drop_private(self, conn: Connection) -> None:
        if conn.user_id is not None:
            conn.subs -= {(c, 0) for c in PRIVATE}
        self.sessions.unbind(conn)

    # ------------------------------------------------------------------ formatting

    def _symbol(self, market_id: int) -> str:
        return self.view.symbol(market_id) or self.symbols.get(market_id) or str(market_id)

    def _base(self, order: LiveOrder) -> str:
        return self._symbol(order.market_id).split("/", 1)[0]

    def _order(self, o: LiveOrder) -> dict[str, Any]:
        def s(v: int | None) -> str | None:
            return None if v is None else str(v)

        return {
            "id": o.id,
            "market": self._symbol(o.market_id),
            "client_order_id": o.client_order_id,
            "side": o.side,
            "type": o.type,
            "price": s(o.price),
            "qty": s(o.qty),
            "quote_budget": s(o.quote_budget),
            "filled_qty": str(o.filled_qty),
            "filled_quote": str(o.filled_quote),
            "fee": str(o.fee),
            "status": o.status,
            "cancel_reason": o.cancel_reason,
        }

    def _fill(self, f: FillRecord, role: str, fee: int) -> dict[str, Any]:
        order = f.taker if role == "taker" else f.maker
        return {
            "market": self._symbol(f.market_id),
            "match_id": f.match_id,
            "order_id": order.id,
            "side": order.side,
            "role": role,
            "price": str(f.price),
            "qty": str(f.qty),
            "quote": str(f.quote),
            "fee": str(fee),  # TAO rao
            "ts": f.ts,
        }


def _trade(f: FillRecord) -> dict[str, Any]:
    return {
        "match_id": f.match_id,
        "price": str(f.price),
        "qty": str(f.qty),
        "quote": str(f.quote),
        "taker_side": f.taker_side,
        "ts": f.ts,  # engine time of the match, ns since the epoch
    }


def _level(x: DepthLevel) -> list[Any]:
    return [str(x.price), str(x.qty), x.orders]


def _diff(before: list[DepthLevel], after: list[DepthLevel], *, reverse: bool) -> list[list[Any]]:
    old = {x.price: (x.qty, x.orders) for x in before}
    new = {x.price: (x.qty, x.orders) for x in after}
    changed = [(p, q, n) for p, (q, n) in new.items() if old.get(p) != (q, n)]
    changed += [(p, 0, 0) for p in old if p not in new]
    changed.sort(key=lambda c: c[0], reverse=reverse)
    return [[str(p), str(q), n] for p, q, n in changed]


async def _balances_message(session: AsyncSession, user_id: int, assets: set[str]) -> str:
    rows = [b for b in await user_balances(session, user_id) if b.asset in assets]
    data = [
        {
            "asset": b.asset,
            "available": str(b.available),
            "held": str(b.held),
            "staked": str(b.staked),
            "total": str(b.total),
        }
        for b in rows
    ]
    return _dumps({"channel": "balances", "data": data})


@router.websocket(WS_PATH)
async def websocket_feed(websocket: WebSocket) -> None:
    hub: MarketDataHub = websocket.app.state.marketdata
    await websocket.accept()
    conn = Connection(websocket, hub.queue_size, hub.flusher)
    hub.connections.add(conn)

    async def receive() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await hub.handle(conn, message["text"])
            else:
                hub.refuse_binary(conn)

    tasks = [
        asyncio.create_task(conn.pump()),
        asyncio.create_task(receive()),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.drop(conn)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task
