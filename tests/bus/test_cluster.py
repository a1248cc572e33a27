"""A cluster of processes on one Postgres and a real NATS server: API nodes forward orders
to the active sequencer, gateways stream what it committed; a killed sequencer is replaced
by its standby without losing or repeating anything."""

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.kit.embedded_nats import EmbeddedNats
from tests.bus.cluster import Node
from tests.conftest import truncate_all
from tests.orders.conftest import ledger_ok
from tests.orders.test_crash import _keys
from tests.orders.test_properties import LOT, MID, TICK, _setup
from tests.signing import SignedClient

pytestmark = pytest.mark.acceptance  # real processes: see pyproject.toml


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        node.stop()


class BookFeed:
    """A native WebSocket client of the book channel: the book it holds, and every
    sequence it got."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.sequences: list[int] = []
        self.snapshots = 0
        self.epochs: list[str] = []

    async def until(self, done: Any) -> None:
        async with asyncio.timeout(30):
            while not done(self):
                msg = json.loads(await self.ws.recv())
                if msg.get("channel") != "book" or "type" not in msg:
                    continue
                if msg["type"] == "snapshot":
                    self.snapshots += 1
                    self.epochs.append(msg["epoch"])
                    self.bids = {int(p): int(q) for p, q, _ in msg["bids"]}
                    self.asks = {int(p): int(q) for p, q, _ in msg["asks"]}
                    self.sequences = [msg["sequence"]]
                    continue
                assert msg["first"] == self.sequences[-1] + 1, "a gap in the book's sequence"
                assert msg["sequence"] >= msg["first"]
                self.sequences.append(msg["sequence"])
                for side, levels in (("bids", self.bids), ("asks", self.asks)):
                    for p, q, _ in msg[side]:
                        if int(q) == 0:
                            levels.pop(int(p), None)
                        else:
                            levels[int(p)] = int(q)

    def book(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())


@pytest.fixture
async def engine_clean(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    await truncate_all(engine)
    yield engine
    await truncate_all(engine)


async def rest_book(http: httpx.AsyncClient, base: str) -> dict[str, Any]:
    r = await http.get(f"{base}/v1/markets/SN1-TAO/book", params={"depth": 1000})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def settled_book(http: httpx.AsyncClient, *bases: str) -> dict[str, Any]:
    """The REST book once every node serves the same sequence (followers apply the
    sequencer's events a little after it commits them: wait for them to agree)."""
    async with asyncio.timeout(30):
        while True:
            books = [await rest_book(http, base) for base in bases]
            if len({(b["epoch"], b["sequence"]) for b in books}) == 1:
                assert len({str(levels(b)) for b in books}) == 1, books
                return books[0]
            await asyncio.sleep(0.02)


def levels(book: dict[str, Any]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    return (
        [(int(x["price"]), int(x["qty"])) for x in book["bids"]],
        [(int(x["price"]), int(x["qty"])) for x in book["asks"]],
    )


async def trade(
    client: SignedClient,
    rng: random.Random,
    acks: list[tuple[float, dict[str, Any]]],
    stop: asyncio.Event,
    tag: str,
) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        body = {
            "market": "SN1/TAO",
            "side": rng.choice(["buy", "sell"]),
            "price": str(MID + rng.randint(-3, 3) * TICK),
            "qty": str(rng.randint(1, 5) * LOT),
            "client_order_id": f"{tag}-{n}",
        }
        sent = time.monotonic()
        r = await client.post("/v1/orders", body)
        if r.status_code == 201:
            acks.append((sent, r.json()))
        else:
            assert r.status_code in (429, 503), r.text


async def test_orders_through_api_a_stream_on_gateway_b_and_survive_the_sequencer(
    engine_clean: AsyncEngine,
    database_url: str,
    nats_server: EmbeddedNats,
    nodes: list[Node],
    tmp_path: Path,
) -> None:
    engine = engine_clean
    users = await _setup(engine)
    keys = await _keys(engine, users * 2)

    def node(role: str) -> Node:
        n = Node(role, database_url, nats_server.url, tmp_path)
        nodes.append(n)
        return n

    active = node("sequencer").start()
    standby = node("sequencer").start(until="/health")
    assert not standby.ready()  # a standby is not ready: it serves nothing yet
    api_a = node("api").start()
    gateway_b = node("gateway").start()

    async with (
        httpx.AsyncClient(timeout=30) as http,
        httpx.AsyncClient(base_url=api_a.url, timeout=30) as on_a,
        websockets.connect(gateway_b.ws_url) as ws,
    ):
        feed = BookFeed(ws)
        await ws.send(json.dumps({"op": "subscribe", "channel": "book", "market": "SN1/TAO"}))
        await feed.until(lambda f: f.snapshots == 1)

        # Orders on api A: gateway B streams every committed change of the book, in order.
        clients = [SignedClient(on_a, k, s, uid) for k, s, uid in keys]
        acks: list[tuple[float, dict[str, Any]]] = []
        stop = asyncio.Event()
        rng = random.Random(7)
        for i in range(40):
            await trade_once(clients[i % len(clients)], rng, acks, f"warm-{i}")
        assert any(int(a["filled_qty"]) for _, a in acks), "nothing traded"
        book_a = await settled_book(http, api_a.url, gateway_b.url)
        await feed.until(lambda f: f.sequences[-1] >= book_a["sequence"])
        assert feed.sequences[-1] == book_a["sequence"]
        assert feed.book() == levels(book_a)

        # SIGKILL the active sequencer under load: the standby takes over.
        workers = [
            asyncio.create_task(trade(c, random.Random(i), acks, stop, f"w{i}"))
            for i, c in enumerate(clients)
        ]
        await until(lambda: len(acks) >= 80)
        killed_at = time.monotonic()
        active.kill()
        before = len(acks)
        await until(lambda: any(t > killed_at for t, _ in acks[before:]))
        took_over = time.monotonic() - killed_at  # an order sent after the kill answered
        await until(lambda: sum(1 for t, _ in acks[before:] if t > killed_at) >= 40)
        stop.set()
        await asyncio.gather(*workers)
        print(f"the standby answered an order sent after the kill {took_over:.2f} s after it")
        assert standby.ready()

        # The stream resynchronised from the new sequencer: the same book as the REST one.
        book_a = await settled_book(http, api_a.url, gateway_b.url)
        await feed.until(lambda f: len(f.epochs) >= 2 and f.sequences[-1] >= book_a["sequence"])
        assert feed.epochs[-1] == book_a["epoch"] != feed.epochs[0]
        assert feed.book() == levels(book_a)

    # Every acknowledged order is in the database as acknowledged, none twice.
    async with engine.connect() as conn:
        rows = {
            r.client_order_id: r
            for r in await conn.execute(
                text("SELECT id, client_order_id, status, filled_qty FROM orders")
            )
        }
        assert await conn.scalar(text("SELECT count(*) FROM orders")) == len(rows)
    for _, ack in acks:
        row = rows.get(ack["client_order_id"])
        assert row is not None and str(row.id) == str(ack["id"]), f"order {ack} lost"
        assert row.filled_qty >= int(ack["filled_qty"])
    await ledger_ok(engine)
    # The book rebuilt by the new sequencer is what the orders table says.
    async with engine.connect() as conn:
        open_qty = await conn.scalar(
            text("SELECT coalesce(sum(qty - filled_qty), 0) FROM orders WHERE status = 'open'")
        )
    bids, asks = levels(book_a)
    assert open_qty == sum(q for _, q in bids + asks)


async def trade_once(
    client: SignedClient, rng: random.Random, acks: list[tuple[float, dict[str, Any]]], cid: str
) -> None:
    body = {
        "market": "SN1/TAO",
        "side": rng.choice(["buy", "sell"]),
        "price": str(MID + rng.randint(-2, 2) * TICK),
        "qty": str(rng.randint(1, 5) * LOT),
        "client_order_id": cid,
    }
    r = await client.post("/v1/orders", body)
    assert r.status_code == 201, r.text
    acks.append((time.monotonic(), r.json()))


async def until(condition: Any) -> None:
    """Wait for what the workers gather (polled: they append to plain lists)."""
    async with asyncio.timeout(60):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


async def test_a_killed_gateway_and_a_restarted_nats_lose_nothing(
    engine_clean: AsyncEngine,
    database_url: str,
    nats_server: EmbeddedNats,
    nodes: list[Node],
    tmp_path: Path,
) -> None:
    engine = engine_clean
    users = await _setup(engine)
    keys = await _keys(engine, users)

    def node(role: str) -> Node:
        n = Node(role, database_url, nats_server.url, tmp_path)
        nodes.append(n)
        return n

    node("sequencer").start()
    api_a = node("api").start()
    gateway_1, gateway_2 = node("gateway").start(), node("gateway").start()
    rng = random.Random(11)
    acks: list[tuple[float, dict[str, Any]]] = []
    async with (
        httpx.AsyncClient(timeout=30) as http,
        httpx.AsyncClient(base_url=api_a.url, timeout=30) as on_a,
    ):
        clients = [SignedClient(on_a, k, s, uid) for k, s, uid in keys]
        subscribe = json.dumps({"op": "subscribe", "channel": "book", "market": "SN1/TAO"})
        async with websockets.connect(gateway_1.ws_url) as ws:
            feed = BookFeed(ws)
            await ws.send(subscribe)
            await feed.until(lambda f: f.snapshots == 1)
            for i in range(20):
                await trade_once(clients[i % len(clients)], rng, acks, f"a-{i}")
            book = await settled_book(http, api_a.url, gateway_1.url)
            await feed.until(lambda f: f.sequences[-1] >= book["sequence"])
            gateway_1.kill()
            with pytest.raises(websockets.ConnectionClosed):
                await feed.until(lambda f: False)
        # Orders go on meanwhile; the client comes back on the other gateway.
        for i in range(10):
            await trade_once(clients[i % len(clients)], rng, acks, f"b-{i}")
        async with websockets.connect(gateway_2.ws_url) as ws:
            feed = BookFeed(ws)
            await ws.send(subscribe)
            await feed.until(lambda f: f.snapshots == 1)
            book = await settled_book(http, api_a.url, gateway_2.url)
            await feed.until(lambda f: f.sequences[-1] >= book["sequence"])
            assert feed.book() == levels(book)

            # NATS goes away (SIGKILL) and comes back: orders sent meanwhile are answered
            # once it is back; the stream resumes where it was, with no gap.
            nats_server.stop(kill=True)
            pending = [
                asyncio.create_task(trade_once(clients[i % len(clients)], rng, acks, f"c-{i}"))
                for i in range(6)
            ]
            await asyncio.sleep(0)  # the requests are on their way
            nats_server.start()
            await asyncio.gather(*pending)
            for i in range(10):
                await trade_once(clients[i % len(clients)], rng, acks, f"d-{i}")
            book = await settled_book(http, api_a.url, gateway_2.url)
            await feed.until(lambda f: f.sequences[-1] >= book["sequence"])
            assert feed.book() == levels(book)
            assert feed.snapshots == 1  # followed through the outage: never a new snapshot
    async with engine.connect() as conn:
        cids = set((await conn.execute(text("SELECT client_order_id FROM orders"))).scalars())
        assert await conn.scalar(text("SELECT count(*) FROM orders")) == len(acks)
        relayed = await conn.scalar(text("SELECT relayed_id FROM outbox_relay_state"))
        assert relayed == await conn.scalar(text("SELECT max(id) FROM outbox_events"))
    assert cids == {a["client_order_id"] for _, a in acks}
    await ledger_ok(engine)
