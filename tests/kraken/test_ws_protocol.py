"""Kraken's WebSocket protocol on the wire (v2 at `/ws/kraken/v2`, v1 at `/ws/kraken`), as a
client that follows Kraken's documents keeps its book: every message's checksum verified from
the wire texts, on a thin book too; clean refusals in Kraken's words."""

import asyncio
import json
import zlib
from typing import Any

import httpx
import websockets

from app.custody.notices import notice
from app.kraken.wsformat import checksum_text
from tests.conftest import SignedFactory
from tests.kraken.test_private import kraken
from tests.marketdata.conftest import PRICE, limit, random_flow, ws_url  # noqa: F401
from tests.orders.conftest import ALPHA, Market

Side = dict[str, str]  # price text -> qty text


class Client:
    """Kraken's documented client: decimals read as text, books truncated to the depth."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def send(self, message: Any) -> None:
        await self.conn.send(json.dumps(message))

    async def recv(self) -> Any:
        while True:
            raw = await self.conn.recv()
            message = json.loads(raw, parse_float=str)
            if message in ({"channel": "heartbeat"}, {"event": "heartbeat"}):
                continue
            return message

    async def close(self) -> None:
        await self.conn.close()


async def connect(url: str) -> Client:
    return Client(await websockets.connect(url, max_queue=None))


def crc(asks: Side, bids: Side) -> int:
    a = sorted(asks.items(), key=lambda x: float(x[0]))[:10]
    b = sorted(bids.items(), key=lambda x: -float(x[0]))[:10]
    return zlib.crc32(checksum_text(a, b).encode()) & 0xFFFFFFFF


def apply(side: Side, levels: list[tuple[str, str]], depth: int, *, bids: bool) -> None:
    for price, qty in levels:
        if float(qty) == 0:
            side.pop(price, None)
        else:
            side[price] = qty
    keep = sorted(side, key=lambda p: -float(p) if bids else float(p))[:depth]
    for price in list(side):
        if price not in keep:
            del side[price]


async def rest_top(client: httpx.AsyncClient, depth: int) -> tuple[Side, Side]:
    body = (await client.get(f"/0/public/Depth?pair=SN1TAO&count={depth}")).json()
    book = body["result"]["SN1TAO"]
    return (
        {p: q for p, q, _ in book["asks"]},
        {p: q for p, q, _ in book["bids"]},
    )


async def test_v2_book_through_a_random_flow_every_checksum_verified(
    market: Market,
    signed: SignedFactory,
    ws_url: str,  # noqa: F811
    client: httpx.AsyncClient,
) -> None:
    traders = [await market.trader(signed) for _ in range(4)]
    r = await traders[0].post("/v1/orders", limit("sell", PRICE + 500_000, 3 * ALPHA))
    assert r.status_code == 201
    ws = await connect(ws_url.replace("/v1/ws", "/ws/kraken/v2"))
    status = await ws.recv()
    assert status["channel"] == "status" and status["data"][0]["api_version"] == "v2"
    await ws.send({"method": "ping", "req_id": 3})
    pong = await ws.recv()
    assert (pong["method"], pong["req_id"], pong["success"]) == ("pong", 3, True)
    depth = 25
    await ws.send(
        {
            "method": "subscribe",
            "params": {"channel": "book", "symbol": ["SN1/TAO"], "depth": depth},
            "req_id": 4,
        }
    )
    ack = await ws.recv()
    assert ack["success"] is True and ack["result"]["depth"] == depth
    snapshot = await ws.recv()
    assert snapshot["type"] == "snapshot"
    data = snapshot["data"][0]
    asks = {x["price"]: x["qty"] for x in data["asks"]}
    bids = {x["price"]: x["qty"] for x in data["bids"]}
    assert asks == {"0.050500000": "3.000000000"}
    assert crc(asks, bids) == data["checksum"]
    await random_flow(traders, 120, seed=7)
    want = await rest_top(client, depth)
    checked = 0
    while (asks, bids) != want:
        update = await ws.recv()
        assert update["channel"] == "book" and update["type"] == "update"
        data = update["data"][0]
        apply(asks, [(x["price"], x["qty"]) for x in data["asks"]], depth, bids=False)
        apply(bids, [(x["price"], x["qty"]) for x in data["bids"]], depth, bids=True)
        assert crc(asks, bids) == data["checksum"], "checksum mismatch"
        checked += 1
    assert checked > 50
    await ws.close()


async def test_v2_refusals_in_krakens_words(
    market: Market,
    signed: SignedFactory,
    ws_url: str,  # noqa: F811
    client: httpx.AsyncClient,
) -> None:
    ws = await connect(ws_url.replace("/v1/ws", "/ws/kraken/v2"))
    await ws.recv()  # status

    async def ask(message: Any) -> Any:
        await ws.send(message)
        return await ws.recv()

    def sub(**params: Any) -> dict[str, Any]:
        return {"method": "subscribe", "params": params, "req_id": 1}

    cases = [
        (sub(channel="book", symbol=["SN1/TAO"], depth=7), "Subscription depth not supported"),
        (sub(channel="ohlc", symbol=["SN1/TAO"], interval=2), "Subscription ohlc interval"),
        (sub(channel="book", symbol=["SN99/TAO"]), "Currency pair not supported SN99/TAO"),
        (sub(channel="nope"), "Subscription name invalid"),
        (sub(channel="executions", token="forged"), "ESession:Invalid session"),
        ({"method": "fly", "req_id": 2}, "Method not found"),
        (
            {"method": "add_order", "params": {"token": "x"}, "req_id": 3},
            "ESession:Invalid session",
        ),
    ]
    for message, error in cases:
        answer = await ask(message)
        assert answer["success"] is False and answer["error"].startswith(error), answer
        assert answer["req_id"] == message["req_id"]
    await ws.conn.send("{not json")
    assert (await ws.recv())["error"] == "Malformed request"
    # A real token: an unknown field and an unknown order, in Kraken's words.
    alice = await market.trader(signed)
    token = (await kraken(client, alice, "GetWebSocketsToken"))["result"]["token"]
    answer = await ask(
        {
            "method": "add_order",
            "params": {"token": token, "symbol": "SN1/TAO", "x": 1},
            "req_id": 5,
        }
    )
    assert answer["error"] == "EGeneral:Invalid arguments:x"
    answer = await ask(
        {
            "method": "cancel_order",
            "params": {"token": token, "order_id": ["OAAAAA-AAAAA-AAAAAA"]},
            "req_id": 6,
        }
    )
    assert answer["error"] == "EOrder:Unknown order"
    answer = await ask(
        {
            "method": "add_order",
            "params": {
                "token": token,
                "symbol": "SN1/TAO",
                "side": "buy",
                "order_type": "limit",
                "order_qty": 100000,
                "limit_price": 0.05,
            },
            "req_id": 7,
        }
    )
    assert answer["error"] == "EOrder:Insufficient funds (insufficient user funds)"
    await ws.close()


async def test_v1_book_trades_and_orders(
    market: Market,
    signed: SignedFactory,
    ws_url: str,  # noqa: F811
    client: httpx.AsyncClient,
) -> None:
    traders = [await market.trader(signed) for _ in range(4)]
    ws = await connect(ws_url.replace("/v1/ws", "/ws/kraken"))
    greeting = await ws.recv()
    assert greeting["event"] == "systemStatus" and greeting["status"] == "online"
    await ws.send({"event": "ping", "reqid": 9})
    assert await ws.recv() == {"event": "pong", "reqid": 9}
    await ws.send(
        {"event": "subscribe", "pair": ["SN1/TAO"], "subscription": {"name": "book", "depth": 10}}
    )
    status = await ws.recv()
    assert (status["event"], status["status"], status["channelName"]) == (
        "subscriptionStatus",
        "subscribed",
        "book-10",
    )
    snapshot = await ws.recv()
    assert snapshot[2:] == ["book-10", "SN1/TAO"] and snapshot[1] == {"as": [], "bs": []}
    asks: Side = {}
    bids: Side = {}
    await ws.send({"event": "subscribe", "pair": ["SN1/TAO"], "subscription": {"name": "trade"}})
    assert (await ws.recv())["channelName"] == "trade"
    await random_flow(traders, 60, seed=3)
    want = await rest_top(client, 10)
    trades = 0
    while (asks, bids) != want:
        message = await ws.recv()
        if message[-2] == "trade":
            trades += len(message[1])
            continue
        assert message[-2] == "book-10"
        checksum = None
        for part in message[1:-2]:
            apply(asks, [(p, q) for p, q, _ in part.get("a", [])], 10, bids=False)
            apply(bids, [(p, q) for p, q, _ in part.get("b", [])], 10, bids=True)
            checksum = part.get("c", checksum)
        assert checksum is not None and crc(asks, bids) == int(checksum)
    assert trades > 0
    await ws.send({"event": "dance"})
    while (answer := await ws.recv()) and not isinstance(answer, dict):
        pass
    assert answer == {"errorMessage": "Event(s) not found", "event": "error"}
    await ws.close()

    # Private: openOrders, addOrder and cancelOrder with a token.
    alice = traders[0]
    token = (await kraken(client, alice, "GetWebSocketsToken"))["result"]["token"]
    ws = await connect(ws_url.replace("/v1/ws", "/ws/kraken"))
    await ws.recv()
    await ws.send({"event": "subscribe", "subscription": {"name": "openOrders", "token": token}})
    assert (await ws.recv())["status"] == "subscribed"
    assert (await ws.recv())[1] == "openOrders"  # the snapshot
    add = {
        "event": "addOrder",
        "token": token,
        "reqid": 5,
        "pair": "SN1/TAO",
        "type": "buy",
        "ordertype": "limit",
        "price": "0.04",
        "volume": "2",
    }
    await ws.send(add)
    added: dict[str, Any] = {}
    update: Any = None
    while not added or update is None:
        message = await ws.recv()
        if isinstance(message, dict):
            added = message
        else:
            update = message
    assert added["status"] == "ok" and added["descr"] == "buy 2.00000000 SN1TAO @ limit 0.04000000"
    assert update[1] == "openOrders" and list(update[0][0]) == [added["txid"]]
    assert update[0][0][added["txid"]]["status"] == "open"
    await ws.send({"event": "cancelOrder", "token": token, "txid": [added["txid"]], "reqid": 6})
    answers = [await ws.recv() for _ in range(2)]
    assert {"event": "cancelOrderStatus", "status": "ok", "reqid": 6} in answers
    await ws.send({**add, "token": "forged"})
    refused = await ws.recv()
    assert refused["status"] == "error" and refused["errorMessage"] == "ESession:Invalid session"
    await ws.close()


async def test_revoking_the_key_closes_its_kraken_sessions(
    market: Market,
    signed: SignedFactory,
    ws_url: str,  # noqa: F811
    client: httpx.AsyncClient,
) -> None:
    alice = await market.trader(signed)
    token = (await kraken(client, alice, "GetWebSocketsToken"))["result"]["token"]
    ws = await connect(ws_url.replace("/v1/ws", "/ws/kraken/v2"))
    await ws.recv()  # status
    await ws.send({"method": "subscribe", "params": {"channel": "balances", "token": token}})
    assert (await ws.recv())["success"] is True
    snapshot = await ws.recv()
    assert snapshot["type"] == "snapshot"
    assert {x["asset"]: x["balance"] for x in snapshot["data"]} == {
        "SN1": "1000.000000000",
        "TAO": "100.000000000",
    }
    assert (await alice.delete("/v1/account/key")).status_code == 200
    try:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4001
    # The token is worthless now.
    ws = await connect(ws_url.replace("/v1/ws", "/ws/kraken/v2"))
    await ws.recv()
    await ws.send({"method": "subscribe", "params": {"channel": "executions", "token": token}})
    assert (await ws.recv())["error"] == "ESession:Invalid session"
    await ws.close()


async def test_heartbeats_once_subscribed(
    market: Market,
    ws_url: str,  # noqa: F811
) -> None:
    for path, subscribe, beat in (
        (
            "/ws/kraken/v2",
            {"method": "subscribe", "params": {"channel": "instrument"}},
            {"channel": "heartbeat"},
        ),
        (
            "/ws/kraken",
            {"event": "subscribe", "pair": ["SN1/TAO"], "subscription": {"name": "spread"}},
            {"event": "heartbeat"},
        ),
    ):
        conn = await websockets.connect(ws_url.replace("/v1/ws", path))
        await conn.send(json.dumps(subscribe))
        async with asyncio.timeout(10):
            while json.loads(await conn.recv()) != beat:
                pass
        await conn.close()


async def test_a_deposit_notice_sends_the_balances_again(
    market: Market,
    signed: SignedFactory,
    ws_url: str,  # noqa: F811
    client: httpx.AsyncClient,
) -> None:
    alice = await market.trader(signed)
    token = (await kraken(client, alice, "GetWebSocketsToken"))["result"]["token"]
    ws = await connect(ws_url.replace("/v1/ws", "/ws/kraken/v2"))
    await ws.recv()  # status
    await ws.send({"method": "subscribe", "params": {"channel": "balances", "token": token}})
    assert (await ws.recv())["success"] is True
    assert (await ws.recv())["type"] == "snapshot"
    feed = market.app.state.kraken_ws
    await feed._refresh()  # what the subscription itself asked to be refreshed, done
    await market.fund(alice, "TAO", 5 * 10**9)  # an admin credit: no order, no fill
    # The custody worker announces a deposit that changed (in any process).
    feed.custody_notice(notice("deposit", alice.user_id, 1))
    await feed._refresh()
    async with asyncio.timeout(10):
        update = await ws.recv()
    assert update["channel"] == "balances" and update["type"] == "update"
    (entry,) = update["data"]
    assert (entry["asset"], entry["amount"], entry["balance"]) == (
        "TAO",
        "5.000000000",
        "105.000000000",
    )
    await ws.close()


async def test_v2_batches_amends_and_the_dead_mans_switch(
    market: Market,
    signed: SignedFactory,
    ws_url: str,  # noqa: F811
    client: httpx.AsyncClient,
) -> None:
    alice = await market.trader(signed)
    token = (await kraken(client, alice, "GetWebSocketsToken"))["result"]["token"]
    ws = await connect(ws_url.replace("/v1/ws", "/ws/kraken/v2"))
    await ws.recv()  # status

    async def call(method: str, req_id: int, **params: Any) -> Any:
        await ws.send({"method": method, "params": {"token": token, **params}, "req_id": req_id})
        while True:
            answer = await ws.recv()
            if answer.get("req_id") == req_id:
                return answer

    def order(price: float, **extra: Any) -> dict[str, Any]:
        return {"order_type": "limit", "side": "buy", "order_qty": 1, "limit_price": price, **extra}

    added = await call(
        "batch_add", 1, symbol="SN1/TAO", orders=[order(0.04), order(0.041, cl_ord_id="b-2")]
    )
    assert added["success"] is True, added
    first, second = added["result"]
    assert second["cl_ord_id"] == "b-2"
    # All or nothing: one bad order refuses the batch.
    refused = await call("batch_add", 2, symbol="SN1/TAO", orders=[order(0.04), order(0.04, x=1)])
    assert refused["success"] is False and refused["error"] == "EGeneral:Invalid arguments:x"
    amended = await call("amend_order", 3, cl_ord_id="b-2", order_qty=2.5, limit_price=0.0415)
    assert amended["success"] is True and amended["result"]["order_id"] == second["order_id"]
    opened = (await kraken(client, alice, "OpenOrders"))["result"]["open"]
    assert len(opened) == 2
    assert opened[second["order_id"]]["vol"] == "2.500000000"
    assert opened[second["order_id"]]["descr"]["price"] == "0.041500000"
    armed = await call("cancel_all_orders_after", 4, timeout=60)
    assert armed["success"] is True and armed["result"]["triggerTime"] != "0"
    disarmed = await call("cancel_all_orders_after", 5, timeout=0)
    assert disarmed["result"]["triggerTime"] == "0"
    cancelled = await call("batch_cancel", 6, orders=[first["order_id"], second["order_id"]])
    assert cancelled["success"] is True and cancelled["orders_cancelled"] == 2
    assert (await kraken(client, alice, "OpenOrders"))["result"]["open"] == {}
    again = await call("batch_cancel", 7, orders=[first["order_id"]])
    assert again["error"] == "EOrder:Unknown order"
    await ws.close()
