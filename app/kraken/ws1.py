"""Kraken's WebSocket API v1 at `/ws/kraken`, on the same feed as v2 (`app.kraken.ws`).

`ccxt.pro.kraken` (the installed version) speaks v2 for every stream and order; of v1 it
keeps the `public`/`private` URLs (its token cache is keyed by the `private` one) and the
handlers of v1's events (`systemStatus`, `subscriptionStatus`, `heartbeat`, `pong`). This
endpoint serves v1 itself for the clients still on it:

- events: `systemStatus` on connecting, `ping` -> `pong`, `heartbeat` about once a second
  on a subscribed connection that was sent nothing else, `subscriptionStatus`;
- public: `book` (depth 10/25/100/500/1000: `as`/`bs` snapshot, `a`/`b` updates with the
  CRC32 `c`, the same checksum as v2's), `ticker`, `trade`, `ohlc` (Kraken's intervals),
  `spread`; messages are arrays `[channelID, payload, channelName, pair]`;
- private, with a `token` from `GetWebSocketsToken`: `openOrders` and `ownTrades`
  (`[[{id: {...}}], name, {"sequence": n}]`, as the REST OpenOrders / TradesHistory describe
  orders and trades), and `addOrder`, `editOrder`, `cancelOrder`, `cancelAll`,
  `cancelAllOrdersAfter` (REST's parameter names), answered with `<event>Status`.
"""

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.scopes import Scope
from app.kit.errors import AppError
from app.kit.inputs import parse_json
from app.kraken import marketdata, private
from app.kraken.context import Context
from app.kraken.public import OHLC_INTERVALS
from app.kraken.schemas import Params, order_info, timestamp, units
from app.kraken.txid import order_txid, trade_txid
from app.kraken.ws import (
    DEPTH_NOT_SUPPORTED,
    INTERVAL_NOT_SUPPORTED,
    KConn,
    KrakenFeed,
    WsError,
    _error_text,
    serve,
)
from app.kraken.wsformat import BOOK_DEPTHS, DEFAULT_DEPTH, book_delta, dumps
from app.marketdata import service as md
from app.models import Market
from app.orders import service as orders_service
from app.orders.readmodel import BookChange, Committed, FillRecord
from app.orders.schemas import OrderOut

router = APIRouter()

V1_PATH = "/ws/kraken"
VERSION = "1.9.2"
PUBLIC = ("book", "ticker", "trade", "ohlc", "spread")
PRIVATE = ("openOrders", "ownTrades")
EVENT_NOT_FOUND = "Event(s) not found"


def _seconds(moment: datetime | None = None) -> str:
    """v1's times: '1534614057.321597'."""
    moment = moment or datetime.now(UTC)
    return f"{moment.timestamp():.6f}"


def _level(price: int, qty: int, stamp: str) -> list[str]:
    return [units(price), units(qty), stamp]


class V1:
    """v1's subscriptions and formats, fed by the v2 feed's dispatch and refresh."""

    def __init__(self, feed: KrakenFeed) -> None:
        self.feed = feed
        feed.v1 = self
        self.channel_ids: dict[tuple[str, int], int] = {}

    def _channel_id(self, name: str, market_id: int) -> int:
        key = (name, market_id)
        if key not in self.channel_ids:
            self.channel_ids[key] = len(self.channel_ids) + 1
        return self.channel_ids[key]

    def _conns(self, key: tuple[str, int]) -> list[KConn]:
        return list(self.feed.subs.get(key, ()))

    def _send(self, conn: KConn, message: Any) -> None:
        self.feed._deliver(conn, dumps(message))

    def greet(self, conn: KConn) -> None:
        conn.heartbeat = '{"event":"heartbeat"}'
        self._send(
            conn,
            {
                "connectionID": conn.connection_id,
                "event": "systemStatus",
                "status": "online" if self.feed.view.running else "maintenance",
                "version": VERSION,
            },
        )

    # ------------------------------------------------------------------ updates

    def book_update(self, change: BookChange, crc: int) -> None:
        m = change.market_id
        stamp = _seconds()
        texts: dict[int, str | None] = {}
        before_b = [(x.price, x.qty) for x in change.before.bids]
        before_a = [(x.price, x.qty) for x in change.before.asks]
        after_b = [(x.price, x.qty) for x in change.after.bids]
        after_a = [(x.price, x.qty) for x in change.after.asks]
        pair = self.feed._symbol(m)
        for conn in self._conns(("v1:book", m)):
            if conn.book_from.get(m, 0) >= change.sequence:
                continue
            depth = conn.depths.get(m, DEFAULT_DEPTH)
            if depth not in texts:
                asks = [_level(p, q, stamp) for p, q in book_delta(before_a, after_a, depth)]
                bids = [_level(p, q, stamp) for p, q in book_delta(before_b, after_b, depth)]
                texts[depth] = None
                if asks or bids:
                    cid = self._channel_id(f"book-{depth}", m)
                    parts: list[Any] = [cid]
                    if asks and bids:
                        parts += [{"a": asks}, {"b": bids, "c": str(crc)}]
                    elif asks:
                        parts.append({"a": asks, "c": str(crc)})
                    else:
                        parts.append({"b": bids, "c": str(crc)})
                    texts[depth] = dumps([*parts, f"book-{depth}", pair])
            text = texts[depth]
            if text is not None:
                self.feed._deliver(conn, text)
        if change.before.bids[:1] != change.after.bids[:1] or (
            change.before.asks[:1] != change.after.asks[:1]
        ):
            conns = self._conns(("v1:spread", m))
            if conns:
                message = [self._channel_id("spread", m), _spread(change), "spread", pair]
                for conn in conns:
                    self._send(conn, message)

    def trades(
        self, market_id: int, fills: list[FillRecord], when: dict[tuple[int, int], datetime]
    ) -> None:
        conns = self._conns(("v1:trade", market_id))
        if not conns:
            return
        rows = [
            [
                units(f.price),
                units(f.qty),
                _seconds(when.get((f.market_id, f.match_id))),
                "b" if f.taker_side == "buy" else "s",
                "m" if f.taker.type == "market" else "l",
                "",
            ]
            for f in fills
        ]
        pair = self.feed._symbol(market_id)
        message = [self._channel_id("trade", market_id), rows, "trade", pair]
        for conn in conns:
            self._send(conn, message)

    async def refresh(self, session: AsyncSession, dirty: set[int]) -> None:
        for market_id in dirty:
            conns = self._conns(("v1:ticker", market_id))
            pair = self.feed._symbol(market_id)
            if conns:
                data = await self._ticker(session, market_id)
                message = [self._channel_id("ticker", market_id), data, "ticker", pair]
                for conn in conns:
                    self._send(conn, message)
            for interval in OHLC_INTERVALS:
                conns = self._conns((f"v1:ohlc-{interval}", market_id))
                if not conns:
                    continue
                step = timedelta(minutes=interval)
                now = datetime.now(UTC)
                start = md.bucket_start(now, step)
                candles = await md.candles_by_step(session, market_id, step, start, now)
                if not candles:
                    continue
                c = candles[-1]
                row = [
                    _seconds(now),
                    _seconds(c.start + step),
                    units(c.open),
                    units(c.high),
                    units(c.low),
                    units(c.close),
                    units(c.quote_volume * 10**9 // c.volume if c.volume else 0),
                    units(c.volume),
                    c.trades,
                ]
                cid = self._channel_id(f"ohlc-{interval}", market_id)
                for conn in conns:
                    self._send(conn, [cid, row, f"ohlc-{interval}", pair])

    async def _ticker(self, session: AsyncSession, market_id: int) -> dict[str, Any]:
        market = await session.get(Market, market_id)
        assert market is not None
        data = await marketdata.ticker(session, self.feed.view, market)
        data["o"] = [data["o"], data["o"]]  # v1 gives today's and the 24 hours' open
        return data

    def private(
        self, committed: Committed, fill_ids: dict[tuple[int, int], tuple[int, datetime]]
    ) -> None:
        for o in committed.orders:
            if o.status == "validated":
                continue
            for conn in self._private_conns(o.user_id, "openOrders"):
                out = OrderOut.of(o, self.feed._symbol(o.market_id))
                conn.exec_seq += 1
                body = [{order_txid(o.id): order_info(out)}]
                self._send(conn, [body, "openOrders", {"sequence": conn.exec_seq}])
        for f in committed.fills:
            known = fill_ids.get((f.market_id, f.match_id))
            if known is None:
                continue
            fill_id, created_at = known
            for order, taker in ((f.taker, True), (f.maker, False)):
                for conn in self._private_conns(order.user_id, "ownTrades"):
                    trade = {
                        "ordertxid": order_txid(order.id),
                        "postxid": trade_txid(fill_id, taker),
                        "pair": self.feed._symbol(f.market_id),
                        "time": _seconds(created_at),
                        "type": order.side,
                        "ordertype": order.type,
                        "price": units(f.price),
                        "cost": units(f.quote),
                        "fee": units(f.taker_fee if taker else f.maker_fee),
                        "vol": units(f.qty),
                        "margin": units(0),
                    }
                    conn.balance_seq += 1
                    body = [{trade_txid(fill_id, taker): trade}]
                    self._send(conn, [body, "ownTrades", {"sequence": conn.balance_seq}])

    def _private_conns(self, user_id: int, name: str) -> Iterable[KConn]:
        return [c for c in self.feed.users.get(user_id, ()) if (f"v1:{name}", 0) in c.subs]

    # ------------------------------------------------------------------ requests

    async def handle(self, conn: KConn, raw: str) -> None:
        try:
            msg = parse_json(raw)
        except AppError:
            msg = None
        if not isinstance(msg, dict):
            self._send(conn, {"errorMessage": "Malformed request", "event": "error"})
            return
        event, reqid = msg.get("event"), msg.get("reqid")
        try:
            if event == "ping":
                self._send(conn, _with_reqid({"event": "pong"}, reqid))
            elif event in ("subscribe", "unsubscribe"):
                await self._subscription(conn, str(event), msg, reqid)
            elif isinstance(event, str) and event in METHODS:
                await self._method(conn, event, msg, reqid)
            else:
                self._send(
                    conn, _with_reqid({"errorMessage": EVENT_NOT_FOUND, "event": "error"}, reqid)
                )
        except Exception as exc:
            answer = {
                "errorMessage": _error_text(exc),
                "event": f"{event}Status",
                "status": "error",
            }
            self._send(conn, _with_reqid(answer, reqid))

    async def _subscription(self, conn: KConn, event: str, msg: dict[str, Any], reqid: Any) -> None:
        sub = msg.get("subscription")
        if not isinstance(sub, dict):
            raise WsError("Subscription field must be an object")
        name = sub.get("name")
        if name in PRIVATE:
            await self._private_subscription(conn, event, str(name), sub, reqid)
            return
        if name not in PUBLIC:
            raise WsError("Subscription name invalid")
        pairs = msg.get("pair")
        if not isinstance(pairs, list) or not pairs or len(pairs) > 100:
            raise WsError("Pair field must be an array")
        depth = sub.get("depth", DEFAULT_DEPTH)
        if name == "book" and depth not in BOOK_DEPTHS:
            raise WsError(DEPTH_NOT_SUPPORTED)
        interval = sub.get("interval", 1)
        if name == "ohlc" and interval not in OHLC_INTERVALS:
            raise WsError(INTERVAL_NOT_SUPPORTED)
        channel = {"book": f"book-{depth}", "ohlc": f"ohlc-{interval}"}.get(str(name), str(name))
        for pair in pairs:
            status: dict[str, Any] = {"event": "subscriptionStatus", "pair": pair}
            async with self.feed.sessionmaker() as session:
                try:
                    market = await self.feed._market(session, pair)
                except WsError:
                    error = f"Currency pair not supported {pair}"
                    self._send(
                        conn,
                        _with_reqid(
                            {
                                **status,
                                "errorMessage": error,
                                "status": "error",
                                "subscription": sub,
                            },
                            reqid,
                        ),
                    )
                    continue
                key = (f"v1:{'book' if name == 'book' else channel}", market.id)
                cid = self._channel_id(channel, market.id)
                if event == "unsubscribe":
                    self.feed._forget(conn, key)
                    if name == "book":
                        conn.book_from.pop(market.id, None)
                        conn.depths.pop(market.id, None)
                    answer = {**status, "channelID": cid, "channelName": channel}
                    answer.update(status="unsubscribed", subscription=sub)
                    self._send(conn, _with_reqid(answer, reqid))
                    continue
                answer = {"channelID": cid, "channelName": channel, **status}
                answer.update(status="subscribed", subscription=sub)
                self._send(conn, _with_reqid(answer, reqid))
                if name == "book":
                    book = self.feed.view.depth(market.id)
                    conn.book_from[market.id] = self.feed.view.sequence(market.id)
                    conn.depths[market.id] = int(depth)
                    self.feed._register(conn, key)
                    stamp = _seconds()
                    snapshot = {
                        "as": [_level(x.price, x.qty, stamp) for x in book.asks[: int(depth)]],
                        "bs": [_level(x.price, x.qty, stamp) for x in book.bids[: int(depth)]],
                    }
                    self._send(conn, [cid, snapshot, channel, market.symbol])
                    continue
                self.feed._register(conn, key)
                if name == "ticker":
                    data = await self._ticker(session, market.id)
                    self._send(conn, [cid, data, "ticker", market.symbol])
                elif name == "spread":
                    book = self.feed.view.depth(market.id)
                    change = BookChange(market.id, 0, book, book)
                    self._send(conn, [cid, _spread(change), "spread", market.symbol])

    async def _private_subscription(
        self, conn: KConn, event: str, name: str, sub: dict[str, Any], reqid: Any
    ) -> None:
        principal = await self.feed._principal(sub.get("token"), Scope.READ)
        key = (f"v1:{name}", 0)
        status: dict[str, Any] = {"channelName": name, "event": "subscriptionStatus"}
        shown = {k: v for k, v in sub.items() if k != "token"}
        if event == "unsubscribe":
            self.feed._forget(conn, key)
            answer = {**status, "status": "unsubscribed", "subscription": shown}
            self._send(conn, _with_reqid(answer, reqid))
            return
        self.feed._bind(conn, principal)
        self.feed._register(conn, key)
        answer = {**status, "status": "subscribed", "subscription": shown}
        self._send(conn, _with_reqid(answer, reqid))
        async with self.feed.sessionmaker() as session:
            if name == "openOrders":
                orders, _ = await orders_service.list_orders(
                    session,
                    principal.user_id,
                    orders_service.OrderFilter(status="open"),
                    None,
                    private.OPEN_LIMIT,
                )
                body = [{order_txid(o.id): order_info(o)} for o in reversed(orders)]
                conn.exec_seq += 1
                self._send(conn, [body, "openOrders", {"sequence": conn.exec_seq}])
            elif sub.get("snapshot", True) is not False:
                fills, _ = await orders_service.page_fills(
                    session, principal.user_id, None, None, 0, 50
                )
                types = await orders_service.order_types(session, {f.order_id for f in fills})
                body = [
                    {
                        trade_txid(f.id, f.liquidity == "taker"): {
                            "ordertxid": order_txid(f.order_id),
                            "postxid": trade_txid(f.id, f.liquidity == "taker"),
                            "pair": f.market,
                            "time": f"{timestamp(f.created_at)}",
                            "type": f.side,
                            "ordertype": types[f.order_id],
                            "price": units(int(f.price)),
                            "cost": units(int(f.quote)),
                            "fee": units(int(f.fee)),
                            "vol": units(int(f.qty)),
                            "margin": units(0),
                        }
                    }
                    for f in reversed(fills)
                ]
                conn.balance_seq += 1
                self._send(conn, [body, "ownTrades", {"sequence": conn.balance_seq}])

    async def _method(self, conn: KConn, event: str, msg: dict[str, Any], reqid: Any) -> None:
        principal = await self.feed._principal(msg.get("token"), Scope.TRADE)
        rest = {k: v for k, v in msg.items() if k not in ("event", "token", "reqid")}
        if event == "editOrder":
            rest["txid"] = rest.pop("orderid", None)
        async with self.feed.sessionmaker() as session:
            ctx = Context(conn.ws, session, Params(rest), principal)
            try:
                if event == "cancelOrder":
                    txids = rest.get("txid")
                    if not isinstance(txids, list) or not txids:
                        raise WsError("EGeneral:Invalid arguments:txid")
                    for txid in txids:
                        ctx.params = Params({"txid": txid})
                        await private.cancel_order(ctx)
                    result: Any = {}
                else:
                    result = await METHODS[event](ctx)
            except BaseException:
                with contextlib.suppress(Exception):
                    await session.rollback()
                raise
        answer: dict[str, Any] = {"event": f"{event}Status", "status": "ok"}
        if event == "addOrder":
            answer["descr"] = result["descr"]["order"]
            if "txid" in result:
                answer["txid"] = result["txid"][0]
        elif event == "editOrder":
            answer.update(
                txid=result["txid"],
                originaltxid=result["originaltxid"],
                descr=result["descr"]["order"],
            )
        elif event == "cancelAll":
            answer["count"] = result["count"]
        elif event == "cancelAllOrdersAfter":
            answer.update(currentTime=result["currentTime"], triggerTime=result["triggerTime"])
        self._send(conn, _with_reqid(answer, reqid))


METHODS = {
    "addOrder": private.add_order,
    "editOrder": private.edit_order,
    "cancelOrder": private.cancel_order,
    "cancelAll": private.cancel_all,
    "cancelAllOrdersAfter": private.cancel_all_orders_after,
}


def _with_reqid(message: dict[str, Any], reqid: Any) -> dict[str, Any]:
    if reqid is not None:
        message["reqid"] = reqid
    return message


def _spread(change: BookChange) -> list[str]:
    bids, asks = change.after.bids, change.after.asks
    return [
        units(bids[0].price if bids else 0),
        units(asks[0].price if asks else 0),
        _seconds(),
        units(bids[0].qty if bids else 0),
        units(asks[0].qty if asks else 0),
    ]


@router.websocket(V1_PATH)
async def kraken_v1(websocket: WebSocket) -> None:
    feed: KrakenFeed = websocket.app.state.kraken_ws
    v1 = feed.v1 if isinstance(feed.v1, V1) else V1(feed)
    await serve(websocket, feed, v1.greet, v1.handle)
