"""The WebSocket feed: book replay equals the REST book, private channels stay private,
slow consumers are cut off without hurting others, clean errors."""

import asyncio
from typing import Any

import websockets

from app.marketdata.ws import MarketDataHub
from app.matching import Depth, DepthLevel
from app.orders.readmodel import BookChange, Committed
from tests.conftest import SignedFactory
from tests.marketdata.conftest import PRICE, WsClient, connect, limit, random_flow
from tests.orders.conftest import ALPHA, TAO, Market

Book = dict[str, dict[int, tuple[int, int]]]


def apply(book: Book, message: dict[str, Any]) -> None:
    if message["type"] == "snapshot":
        book["bids"], book["asks"] = {}, {}
    for side in ("bids", "asks"):
        for price, qty, orders in message[side]:
            if qty == "0":
                book[side].pop(int(price), None)
            else:
                book[side][int(price)] = (int(qty), orders)


def rest_levels(body: dict[str, Any]) -> Book:
    return {
        side: {int(x["price"]): (int(x["qty"]), x["orders"]) for x in body[side]}
        for side in ("bids", "asks")
    }


async def _book_replay(
    market: Market, signed: SignedFactory, url: str, *, batched: bool = False
) -> int:
    """Orders flow; the feed's snapshot and updates rebuild the REST book exactly, every
    update following the last. Returns how many updates it took."""
    traders = [await market.trader(signed) for _ in range(4)]
    # Something resting before the subscription: the snapshot must carry it.
    r = await traders[0].post("/v1/orders", limit("sell", PRICE + 500_000, 3 * ALPHA))
    assert r.status_code == 201
    ws = await connect(url)
    ack = await ws.request({"op": "subscribe", "channel": "book", "market": "SN1-TAO", "id": 7})
    assert ack == {"event": "subscribed", "id": 7, "channel": "book", "market": "SN1/TAO"}
    snapshot = await ws.recv()
    assert snapshot["type"] == "snapshot" and snapshot["asks"]
    book: Book = {}
    apply(book, snapshot)
    seq = snapshot["sequence"]

    await random_flow(traders, 120, seed=1)
    rest = (await traders[0].client.get("/v1/markets/SN1-TAO/book?depth=1000")).json()
    updates = 0
    while seq < rest["sequence"]:
        update = await ws.recv()
        assert update["channel"] == "book" and update["type"] == "update"
        assert update["first"] == seq + 1, "sequence gap"
        if not batched:
            assert update["sequence"] == update["first"], "one update per change"
        seq = update["sequence"]
        apply(book, update)
        updates += 1
    assert seq == rest["sequence"] and snapshot["epoch"] == rest["epoch"]
    assert book == rest_levels(rest)
    assert book["bids"] and book["asks"]
    await ws.nothing_more()
    await ws.conn.close()
    return updates


async def test_book_replay_equals_rest_book(
    market: Market, signed: SignedFactory, each_ws_url: str
) -> None:
    await _book_replay(market, signed, each_ws_url)


async def test_batched_book_replay_equals_rest_book(
    market: Market, signed: SignedFactory, ws_url: str
) -> None:
    hub: MarketDataHub = market.app.state.marketdata
    hub.batch = 0.02
    await _book_replay(market, signed, ws_url, batched=True)


async def _batched_book(market: Market, ws_url: str) -> tuple[MarketDataHub, WsClient, int, int]:
    """The hub batching over 50 ms, a client of SN1/TAO's book: its market id and snapshot
    sequence."""
    hub: MarketDataHub = market.app.state.marketdata
    hub.batch = 0.05
    ws = await connect(ws_url)
    await ws.request({"op": "subscribe", "channel": "book", "market": "SN1/TAO"})
    snapshot = await ws.recv()
    return hub, ws, next(iter(hub.symbols)), snapshot["sequence"]


async def test_a_batch_is_one_update_of_the_net_change(market: Market, ws_url: str) -> None:
    """Changes gathered over the batch interval: one `book` update (`first` to `sequence`,
    the levels as they end)."""
    hub, ws, market_id, seq = await _batched_book(market, ws_url)
    a, b, c = (DepthLevel(PRICE - i * 10_000, ALPHA, 1) for i in range(3))
    steps = [Depth([a], []), Depth([a, b], []), Depth([b], []), Depth([b, c], [])]
    before = Depth([], [])
    for i, after in enumerate(steps, 1):
        hub.dispatch(Committed([BookChange(market_id, seq + i, before, after)], [], []))
        before = after
    update = await ws.recv()
    assert update["first"] == seq + 1 and update["sequence"] == seq + 4
    # a was added then removed: not there at all; b and c added.
    assert update["bids"] == [[str(b.price), str(ALPHA), 1], [str(c.price), str(ALPHA), 1]]
    await ws.nothing_more()
    await ws.conn.close()


async def test_a_snapshot_within_a_batch_is_followed_by_a_new_snapshot(
    market: Market, ws_url: str
) -> None:
    """A connection whose snapshot fell among the changes of a batch (the view ran ahead of
    the hub) cannot apply the batch's net change: it gets a fresh snapshot instead."""
    hub, ws, market_id, seq = await _batched_book(market, ws_url)
    (conn,) = hub.subs[("book", market_id)]
    level = Depth([DepthLevel(PRICE, ALPHA, 1)], [])
    hub.dispatch(Committed([BookChange(market_id, seq + 1, Depth([], []), level)], [], []))
    hub.dispatch(Committed([BookChange(market_id, seq + 2, level, Depth([], []))], [], []))
    conn.book_from[market_id] = seq + 1  # as if its snapshot was taken between the two
    again = await ws.recv()
    assert again["type"] == "snapshot" and again["sequence"] == hub.view.sequence(market_id)
    await ws.nothing_more()
    await ws.conn.close()


async def test_trades_and_ticker_channels(
    market: Market, signed: SignedFactory, ws_url: str
) -> None:
    alice, bob = await market.trader(signed), await market.trader(signed)
    ws = await connect(ws_url)
    for channel in ("trades", "ticker"):
        ack = await ws.request({"op": "subscribe", "channel": channel, "market": "SN1/TAO"})
        assert ack["event"] == "subscribed", ack
    first = await ws.recv()  # the current ticker
    assert first["channel"] == "ticker" and first["data"]["last_price"] is None
    await alice.post("/v1/orders", limit("sell", PRICE, 2 * ALPHA))
    await bob.post("/v1/orders", limit("buy", PRICE, 2 * ALPHA))
    got = await ws.until(lambda m: m["channel"] == "trades")
    got += await ws.until(
        lambda m: m["channel"] == "ticker" and m["data"]["last_price"] == str(PRICE)
    )
    trades = [m for m in got if m["channel"] == "trades"]
    assert [t["data"] for t in trades] == [
        [
            {
                "match_id": 1,
                "price": str(PRICE),
                "qty": str(2 * ALPHA),
                "quote": str(2 * PRICE),
                "taker_side": "buy",
                "ts": trades[0]["data"][0]["ts"],
            }
        ]
    ]
    tickers = [m["data"] for m in got if m["channel"] == "ticker"]
    assert tickers and tickers[-1]["last_price"] == str(PRICE)
    assert tickers[-1]["volume_24h"] == str(2 * ALPHA)
    await ws.conn.close()


async def test_private_channels_never_leak(
    market: Market, signed: SignedFactory, ws_url: str
) -> None:
    alice, bob, carol = [await market.trader(signed) for _ in range(3)]
    clients = {}
    for name, user in (("alice", alice), ("bob", bob)):
        ws = await connect(ws_url)
        assert (await ws.auth(user)) == {"event": "authenticated", "user_id": user.user_id}
        for channel in ("orders", "fills", "balances"):
            assert (await ws.request({"op": "subscribe", "channel": channel}))["event"] == (
                "subscribed"
            )
        ack = await ws.request({"op": "subscribe", "channel": "trades", "market": "SN1/TAO"})
        assert ack["event"] == "subscribed"
        clients[name] = ws

    a1 = (await alice.post("/v1/orders", limit("sell", PRICE, 2 * ALPHA))).json()
    c1 = (await carol.post("/v1/orders", limit("buy", PRICE, 1 * ALPHA))).json()
    a2 = (await alice.post("/v1/orders", limit("buy", PRICE - 10_000, ALPHA))).json()
    await carol.post("/v1/orders", limit("buy", PRICE - 20_000, ALPHA))

    # A barrier: a later trade between two others, on the public trades channel that both
    # alice and bob follow. The feed is in commit order: what precedes it is all they get.
    # (Alice's orders are cancelled first, so that the barrier trade is not hers.)
    assert (await alice.delete("/v1/orders")).status_code == 200
    dave = await market.trader(signed)
    await dave.post("/v1/orders", limit("sell", PRICE - 20_000, ALPHA))  # carol's bid

    def barrier(m: dict[str, Any]) -> bool:
        return m["channel"] == "trades" and m["data"][0]["price"] == str(PRICE - 20_000)

    got = await clients["alice"].until(barrier)
    orders = [m["data"] for m in got if m["channel"] == "orders"]
    fills = [m["data"] for m in got if m["channel"] == "fills"]
    assert {o["id"] for o in orders} == {a1["id"], a2["id"]}
    assert fills == [
        {
            "market": "SN1/TAO",
            "match_id": 1,
            "order_id": a1["id"],
            "side": "sell",
            "role": "maker",
            "price": str(PRICE),
            "qty": str(ALPHA),
            "quote": str(PRICE),
            "fee": str(PRICE * 10 // 10_000),
            "ts": fills[0]["ts"],
        }
    ]
    assert c1["id"] not in {o["id"] for o in orders}
    # Balances are pushed as they settle (batched): the latest per asset ends up equal to the
    # REST balances.
    rest = {b["asset"]: b for b in (await alice.get("/v1/balances")).json()["balances"]}
    last: dict[str, dict[str, Any]] = {}

    def settled(messages: list[dict[str, Any]]) -> bool:
        for m in messages:
            for b in m["data"] if m["channel"] == "balances" else []:
                last[b["asset"]] = b
        return bool(last) and all(
            {k: rest[a][k] for k in ("available", "held", "staked", "total")}
            == {k: v for k, v in b.items() if k != "asset"}
            for a, b in last.items()
        )

    if not settled(got):
        await clients["alice"].until(lambda m: settled([m]))
    # Bob traded nothing: he hears nothing private at all (only the public trades).
    heard = await clients["bob"].until(barrier)
    assert any(barrier(m) for m in got)
    assert {m["channel"] for m in heard} == {"trades"}
    for ws in clients.values():
        await ws.conn.close()


async def test_errors_and_ping(market: Market, signed: SignedFactory, ws_url: str) -> None:
    user = await market.trader(signed, tao=TAO, alpha=0)
    ws = await connect(ws_url)
    assert (await ws.request({"op": "ping", "id": 1}))["event"] == "pong"
    cases = [
        ({"op": "subscribe", "channel": "nope", "market": "SN1/TAO"}, "unknown_channel"),
        ({"op": "subscribe", "channel": "book", "market": "SN9/TAO"}, "market_not_found"),
        ({"op": "subscribe", "channel": "book"}, "market_required"),
        ({"op": "subscribe", "channel": "candles:2m", "market": "SN1/TAO"}, "unknown_channel"),
        ({"op": "subscribe", "channel": "orders"}, "not_authenticated"),
        ({"op": "dance"}, "unknown_op"),
        (
            {"op": "auth", "key": user.key, "nonce": 5, "signature": "AAAA"},
            "invalid_signature",
        ),
        ({"op": "auth", "key": "nope", "nonce": 5, "signature": "AAAA"}, "invalid_key"),
    ]
    for message, code in cases:
        answer = await ws.request(message)
        assert answer["event"] == "error" and answer["code"] == code, (message, answer)
    await ws.conn.send("{not json")
    assert (await ws.recv())["code"] == "malformed_json"
    # Bad input answers an error and keeps the connection (nested JSON was a RecursionError).
    for nonce in ("²", "-²", "1" * 10_000, " 5", "+5", "05", True, 5.5, None):
        message = {"op": "auth", "key": user.key, "nonce": nonce, "signature": "AAAA"}
        answer = await ws.request(message)
        assert answer["event"] == "error" and answer["code"] == "invalid_nonce", nonce
    raw_cases = [
        ('{"op": "ping", "id": ' + "[" * 1000 + "]" * 1000 + "}", "json_too_deep"),
        ("[" * 100_000 + "]" * 100_000, "json_too_deep"),
        ('{"op": "subscribe", "channel": "book", "market": "SN1/TAO\\u0000"}', "invalid_text"),
        ('{"op": "subscribe", "channel": "book", "market": "\\ud800"}', "invalid_text"),
        ('{"op": "ping", "\\ud800": 1}', "invalid_text"),
        ("1" * 10_000, "malformed_json"),
        ("[]", "malformed_json"),
    ]
    for raw, code in raw_cases:
        await ws.conn.send(raw)
        answer = await ws.recv()
        assert answer["event"] == "error" and answer["code"] == code, (raw[:60], answer)
    await ws.conn.send(b'{"op": "ping"}')  # a binary frame: answered, not dropped
    answer = await ws.recv()
    assert answer["event"] == "error" and answer["code"] == "binary_frame", answer
    assert (await ws.request({"op": "ping", "id": 2}))["event"] == "pong"
    # Still usable after errors.
    ack = await ws.request({"op": "subscribe", "channel": "candles:1m", "market": "SN1/TAO"})
    assert ack["event"] == "subscribed"
    ack = await ws.request({"op": "unsubscribe", "channel": "candles:1m", "market": "SN1/TAO"})
    assert ack["event"] == "unsubscribed"
    await ws.conn.close()


async def test_slow_consumer_is_disconnected_others_unaffected(
    market: Market, each_ws_url: str
) -> None:
    """More messages than its queue holds, in one step of the event loop: closed with 4008
    (written straight to the socket, or through ASGI's `send`)."""
    ws_url = each_ws_url
    hub: MarketDataHub = market.app.state.marketdata
    fast = await connect(ws_url)
    await fast.request({"op": "subscribe", "channel": "book", "market": "SN1/TAO"})
    await fast.recv()
    hub.queue_size = 4
    slow = await connect(ws_url)
    await slow.request({"op": "subscribe", "channel": "book", "market": "SN1/TAO"})
    await slow.recv()
    market_id = next(iter(hub.symbols))  # the market subscribed to
    seq = market.app.state.orders_view.sequence(market_id)
    # A burst larger than the slow client's queue, delivered in one step of the event loop.
    empty = Depth([], [])
    level = Depth([DepthLevel(PRICE, ALPHA, 1)], [])
    for i in range(1, 11):
        before, after = (empty, level) if i % 2 else (level, empty)
        hub.dispatch(Committed([BookChange(market_id, seq + i, before, after)], [], []))
    try:
        while True:
            await asyncio.wait_for(slow.conn.recv(), 5)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4008 and "slow consumer" in closed.rcvd.reason
    assert hub.dropped_connections == 1
    got = [await fast.recv() for _ in range(10)]
    assert [m["sequence"] for m in got] == [seq + i for i in range(1, 11)]
    # The engine never waited: orders still flow, and the slow client can come back.
    hub.queue_size = 2000
    again = await connect(ws_url)
    assert (await again.request({"op": "subscribe", "channel": "book", "market": "SN1/TAO"}))[
        "event"
    ] == "subscribed"
    await fast.conn.close()
    await again.conn.close()


async def test_heartbeat_when_idle(market: Market, ws_url: str) -> None:
    hub: MarketDataHub = market.app.state.marketdata
    hub.heartbeat = 0.3
    ws = await connect(ws_url)
    raw = await asyncio.wait_for(ws.conn.recv(), 5)
    assert '"event":"heartbeat"' in raw
    await ws.conn.close()


async def test_a_client_that_stops_reading_is_dropped_others_unaffected(
    market: Market, ws_url: str
) -> None:
    """Frames go to the kernel at once; a client that stopped reading is dropped once what
    the kernel could not take passes `queue_size` KiB. A reading client gets everything."""
    hub: MarketDataHub = market.app.state.marketdata
    hub.queue_size = 16
    fast = await connect(ws_url)
    await fast.request({"op": "subscribe", "channel": "trades", "market": "SN1/TAO"})
    host, port = ws_url.removeprefix("ws://").split("/")[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"GET /v1/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    conns = set(hub.connections)
    stalled = next(c for c in conns if c.subs == set())
    big = "x" * 60_000
    sent = 0
    while hub.dropped_connections == 0:
        assert sent < 256 << 20, "never dropped"
        hub._fanout(conns, big)  # the same message to both; only one of them reads
        sent += len(big)
        await asyncio.sleep(0)  # written at the end of this step
    assert stalled.closing is not None and stalled.closing[0] == 4008
    assert stalled not in hub.connections
    # The reading client got every one of them, in order, and stays connected.
    for _ in range(sent // len(big)):
        assert await asyncio.wait_for(fast.conn.recv(), 10) == big
    assert (await fast.request({"op": "ping"}))["event"] == "pong"
    writer.close()
    await fast.conn.close()
