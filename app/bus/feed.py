"""A follower's order view: an `OrdersView` kept equal to the active sequencer's, for
processes that serve reads and WebSockets without a sequencer (API nodes, gateways).

It starts from the sequencer's snapshot (`ex.rpc.snapshot`: the books as of outbox event X) and
follows the committed events in JetStream from the stream position read just before the
snapshot, skipping events up to X. A group's event comes as consecutive parts (one per
market and user it touched), merged before they are applied, so the view's listeners (the
WebSocket hub) get one `Committed` per group, as in the sequencer's own process.

A book change that does not follow (another epoch: a new sequencer took over; a sequence
skipped: the sequencer restored a book after a failure) makes it take a new snapshot. If
NATS goes away, it resumes from the last stream position it applied (JetStream replay).
"""

import asyncio
import contextlib
import json
import logging
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from app.bus.rpc import SNAPSHOT
from app.matching import Depth, DepthLevel
from app.orders import events
from app.orders.readmodel import BookChange, Committed, OrdersView

log = logging.getLogger("app.bus")

FETCH = 256


class Resync(Exception):
    """The view must start again from a snapshot."""


class Feed:
    def __init__(self, nc: Client, view: OrdersView | None = None) -> None:
        self.nc = nc
        self.view = view or OrdersView()
        self.applied = 0  # events applied
        self.snapshots = 0
        self._next_seq = 0  # the next stream sequence to read
        self._after = 0  # events up to this id are in the snapshot
        self._parts: list[events.Event] = []
        self._task: asyncio.Task[None] | None = None
        self.synced = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="order-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = 0.05
        need_snapshot = True
        while True:
            try:
                js = self.nc.jetstream(timeout=5)
                if need_snapshot:
                    await self._snapshot(js)
                    need_snapshot = False
                await self._follow(js)
            except asyncio.CancelledError:
                raise
            except Resync as exc:
                log.info("order feed resynchronising", extra={"reason": str(exc)})
                need_snapshot = True
            except Exception as exc:
                log.warning("order feed interrupted; resuming", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            delay = 0.05

    async def _snapshot(self, js: JetStreamContext) -> None:
        self.synced.clear()
        self.view.running = False
        last_seq = (await js.stream_info(events.STREAM)).state.last_seq
        reply = await self.nc.request(SNAPSHOT, b"", timeout=5)
        snap = json.loads(reply.data)
        self._next_seq, self._after, self._parts = last_seq + 1, snap["event_id"], []
        self.view.epoch = snap["epoch"]
        changes = []
        for m in snap["markets"]:
            self.view.learn(m["market_id"], m["symbol"])
            depth = Depth(_levels(m["bids"]), _levels(m["asks"]))
            changes.append(self.view.mirror(m["market_id"], m["sequence"], depth))
        self.view.running = snap["running"]
        self.snapshots += 1
        self.view.emit(Committed(changes, [], [], epoch=self.view.epoch))
        self.synced.set()

    async def _follow(self, js: JetStreamContext) -> None:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self._next_seq,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30,
        )
        sub = await js.pull_subscribe(events.SUBJECTS, stream=events.STREAM, config=config)
        try:
            while True:
                try:
                    msgs = await sub.fetch(FETCH, timeout=1)
                except nats.errors.TimeoutError:
                    continue
                for msg in msgs:
                    self._next_seq = msg.metadata.sequence.stream + 1
                    self._on_part(events.decode(msg.data))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def _on_part(self, part: events.Event) -> None:
        if part.id <= self._after:
            return
        if self._parts and self._parts[0].id != part.id:
            self._parts = []  # an incomplete group (cannot happen: parts are consecutive)
        self._parts.append(part)
        if len(self._parts) < part.parts:
            return
        event, self._parts = events.merge(self._parts), []
        self._apply(event)

    def _apply(self, event: events.Event) -> None:
        if event.epoch != self.view.epoch:
            raise Resync("another sequencer epoch")
        changes: list[BookChange] = []
        for delta in event.books:
            if delta.sequence != self.view.sequence(delta.market_id) + 1:
                raise Resync(f"book {delta.market_id} skipped to {delta.sequence}")
            if delta.symbol is not None:
                self.view.learn(delta.market_id, delta.symbol)
            after = events.apply(self.view.depth(delta.market_id), delta)
            changes.append(self.view.mirror(delta.market_id, delta.sequence, after))
        self._after = event.id
        self.applied += 1
        created = frozenset(o.id for o in event.orders if o.created)
        self.view.emit(Committed(changes, event.fills, event.orders, created))


def _levels(raw: list[Any]) -> list[DepthLevel]:
    return [DepthLevel(p, q, n) for p, q, n in raw]
