"""The outbox relay against a real NATS server (the embedded one, started here): every
committed group reaches JetStream once, in order, through a NATS restart and a relay that
publishes a batch again."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from fastapi import FastAPI
from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bus.relay import OutboxRelay
from app.config import Settings
from app.kit.embedded_nats import EmbeddedNats
from app.main import create_app
from app.matching import Depth
from app.orders import events
from tests.conftest import SignedFactory
from tests.orders.conftest import ALPHA, PRICE, Market, limit, make_market
from tests.signing import SignedClient


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def app(
    settings: Settings, database_url: str, db: AsyncEngine, nats_server: EmbeddedNats
) -> AsyncIterator[FastAPI]:
    configured = settings.model_copy(update={"outbox_enabled": True, "nats_url": nats_server.url})
    application = create_app(configured, database_url=database_url)
    async with application.router.lifespan_context(application):
        yield application


class Stream:
    """Everything the exchange published, read message by message from the stream (by
    stream sequence: a reader that survives the server's restarts)."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.seen: list[tuple[str, events.Event]] = []
        self.last_seq = 0

    async def until(self, done: Any) -> None:
        async with asyncio.timeout(20):
            await self._until(done)

    async def _until(self, done: Any) -> None:
        while not done(self.seen):
            try:
                last = (await self.js.stream_info(events.STREAM)).state.last_seq
            except Exception:  # the server is restarting: ask again
                last = self.last_seq
            while self.last_seq < last:
                msg = await self.js.get_msg(events.STREAM, self.last_seq + 1)
                self.last_seq += 1
                assert msg.data is not None and msg.subject is not None
                self.seen.append((msg.subject, events.decode(msg.data)))
            if not done(self.seen):
                await asyncio.sleep(0.02)


@pytest.fixture
async def stream(nats_server: EmbeddedNats, app: FastAPI) -> AsyncIterator[Stream]:
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    yield Stream(nc.jetstream())
    await nc.close()


async def place(user: SignedClient, side: str, price: int, qty: int) -> dict[str, Any]:
    r = await user.post("/v1/orders", limit(side, price, qty))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def outbox_ids(db: AsyncEngine) -> list[int]:
    async with db.connect() as conn:
        return list(
            (await conn.execute(text("SELECT id FROM outbox_events ORDER BY id"))).scalars()
        )


async def test_committed_groups_reach_jetstream_with_books_fills_and_orders(
    app: FastAPI, signed: SignedFactory, stream: Stream, db: AsyncEngine
) -> None:
    market: Market = await make_market(app, signed)
    alice, bob = await market.trader(signed), await market.trader(signed)
    ask = await place(alice, "sell", PRICE, 4 * ALPHA)
    bid = await place(bob, "buy", PRICE, 3 * ALPHA)
    assert bid["status"] == "filled"
    market_id = app.state.orders_view.market_id("SN1/TAO")

    def bob_filled(seen: list[tuple[str, events.Event]]) -> bool:
        return any(s == f"ex.ev.user.{bob.user_id}" and e.fills for s, e in seen)

    await stream.until(bob_filled)
    [(_, bobs)] = [(s, e) for s, e in stream.seen if s == f"ex.ev.user.{bob.user_id}" and e.fills]
    [fill] = bobs.fills
    assert (fill.price, fill.qty, fill.quote) == (PRICE, 3 * ALPHA, 3 * PRICE)
    assert (fill.maker.id, fill.taker.id) == (int(ask["id"]), int(bid["id"]))
    assert fill.taker_fee == 3 * PRICE * 20 // 10_000 and fill.maker_fee == 3 * PRICE * 10 // 10_000
    assert [o.status for o in bobs.orders] == ["filled"]
    # Alice sees her order rest, then her fill: the maker's side.
    alices = [e for s, e in stream.seen if s == f"ex.ev.user.{alice.user_id}"]
    assert [(o.status, o.filled_qty) for e in alices for o in e.orders] == [
        ("open", 0),
        ("open", 3 * ALPHA),
    ]
    assert [f.match_id for e in alices for f in e.fills] == [fill.match_id]

    # The book, rebuilt from nothing with the deltas, is the REST book; sequences contiguous.
    await stream.until(lambda seen: len(seen) >= 1 and _book_events(seen, market_id)[-1:] != [])
    book = Depth([], [])
    deltas = [d for e in _book_events(stream.seen, market_id) for d in e.books]
    assert [d.sequence for d in deltas] == list(
        range(deltas[0].sequence, deltas[0].sequence + len(deltas))
    )
    for delta in deltas:
        book = events.apply(book, delta)
    rest = (await alice.get("/v1/markets/SN1-TAO/book")).json()
    assert rest["sequence"] == deltas[-1].sequence
    assert (
        [(lv.price, lv.qty, lv.orders) for lv in book.asks]
        == [(int(x["price"]), int(x["qty"]), x["orders"]) for x in rest["asks"]]
        == [(PRICE, ALPHA, 1)]
    )
    assert book.bids == [] and rest["bids"] == []
    # Each outbox event went out once per subject it touches, in order.
    ids = await outbox_ids(db)
    assert sorted({e.id for _, e in stream.seen}) == ids
    assert [e.id for _, e in stream.seen] == sorted(e.id for _, e in stream.seen)


def _book_events(seen: list[tuple[str, events.Event]], market_id: int) -> list[events.Event]:
    return [e for s, e in seen if s == f"ex.ev.book.{market_id}" and e.books]


async def test_a_nats_outage_delays_the_events_and_loses_none(
    app: FastAPI,
    signed: SignedFactory,
    stream: Stream,
    db: AsyncEngine,
    nats_server: EmbeddedNats,
) -> None:
    market = await make_market(app, signed)
    alice = await market.trader(signed)
    await place(alice, "sell", PRICE, ALPHA)
    first = await outbox_ids(db)
    await stream.until(lambda seen: {e.id for _, e in seen} >= set(first))
    nats_server.stop(kill=True)
    # Trading goes on without NATS: orders commit and are answered.
    for i in range(5):
        await place(alice, "sell", PRICE + (i + 1) * 1000, ALPHA)
    during = await outbox_ids(db)
    assert len(during) == len(first) + 5
    relay: OutboxRelay = app.state.outbox_relay
    assert relay.relayed_id == first[-1]  # held back, not lost
    nats_server.start()
    await stream.until(lambda seen: {e.id for _, e in seen} >= set(during))
    per_subject = [(s, e.id) for s, e in stream.seen]
    assert len(per_subject) == len(set(per_subject))  # none twice
    assert sorted({i for _, i in per_subject}) == during


async def test_publishing_a_batch_again_stores_nothing_twice(
    app: FastAPI, signed: SignedFactory, stream: Stream, db: AsyncEngine
) -> None:
    market = await make_market(app, signed)
    alice, bob = await market.trader(signed), await market.trader(signed)
    await place(alice, "sell", PRICE, 2 * ALPHA)
    await place(bob, "buy", PRICE, ALPHA)
    ids = await outbox_ids(db)
    await stream.until(lambda seen: {e.id for _, e in seen} >= set(ids))
    before = (await stream.js.stream_info(events.STREAM)).state.messages
    # As after a crash between JetStream's acknowledgement and the cursor's update.
    relay: OutboxRelay = app.state.outbox_relay
    await relay.stop()
    async with db.begin() as conn:
        await conn.execute(text("UPDATE outbox_relay_state SET relayed_id = 0"))
    again = OutboxRelay(relay.engine, relay.nats_url)
    await again.start()
    try:
        await _wait_relayed(again, ids[-1])
        assert again.published == before  # everything was sent again ...
        assert (await stream.js.stream_info(events.STREAM)).state.messages == before  # ... once
    finally:
        await again.stop()
    async with db.connect() as conn:
        assert (
            await conn.execute(text("SELECT relayed_id FROM outbox_relay_state"))
        ).scalar() == ids[-1]
    assert json.loads(json.dumps(ids)) == ids


async def _wait_relayed(relay: OutboxRelay, last: int) -> None:
    while relay.relayed_id < last:
        relay.poke()
        await asyncio.sleep(0.01)
