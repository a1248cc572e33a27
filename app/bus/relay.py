"""The outbox relay: publishes the sequencer's committed events (`outbox_events`, written in
each group's transaction) to NATS JetStream, in order, each exactly once.

Exactly once: every message carries a deduplication id made of the event's id (JetStream
drops a second message with the same id within its duplicate window), and the relay moves
its cursor (`outbox_relay_state`, in Postgres) only after JetStream acknowledged the batch.
A crash or a NATS outage between the two publishes the batch again: JetStream keeps one copy.
While NATS is unreachable the relay retries with backoff; the outbox holds the events, so
nothing is lost and the sequencer never waits for NATS.

The relay runs beside the sequencer (the single writer): it is woken after each commit and
also polls, for events written while it was away.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.kit import metrics
from app.kit.embedded_nats import EmbeddedNats
from app.orders import events

log = logging.getLogger("app.bus")

BATCH = 500
DUPLICATE_WINDOW_SECONDS = 600.0


async def connect(url: str) -> Client:
    """A NATS connection that reconnects forever (a restarted server is found again)."""
    return await nats.connect(
        url,
        name="dtao-exchange",
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
        connect_timeout=2,
    )


async def ensure_stream(js: JetStreamContext) -> None:
    config = StreamConfig(
        name=events.STREAM,
        subjects=[events.SUBJECTS],
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    )
    try:
        await js.stream_info(events.STREAM)
    except nats.js.errors.NotFoundError:
        await js.add_stream(config)


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        nats_url: str,
        *,
        poll_seconds: float = 1.0,
        ceiling: Callable[[], int] | None = None,
    ) -> None:
        self.engine = engine
        # The last event the sequencer's own view includes: nothing later is published, so
        # a reader that took the sequencer's snapshot (as of event X) after seeing a message
        # in the stream knows that message's event is at most X.
        self.ceiling = ceiling
        self.nats_url = nats_url
        self.poll_seconds = poll_seconds
        self.relayed_id = 0
        self.published = 0  # messages acknowledged by JetStream (duplicates included)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._nc: Client | None = None

    async def start(self) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO outbox_relay_state (id, relayed_id) VALUES (1, 0) "
                    "ON CONFLICT (id) DO NOTHING"
                )
            )
            self.relayed_id = (
                await conn.execute(text("SELECT relayed_id FROM outbox_relay_state"))
            ).scalar_one()
        try:  # ready at once when NATS is; if it is not, the loop keeps trying
            await self._jetstream()
        except Exception as exc:
            log.warning("NATS unreachable; the relay will retry", extra={"error": repr(exc)})
            await self._close()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    async def _close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None

    def poke(self) -> None:
        """New events were committed."""
        self._wake.set()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                js = await self._jetstream()
                while await self._relay_batch(js):
                    pass
                delay = 0.1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.OUTBOX_RELAY_FAILURES.inc()
                log.warning("outbox relay failed; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _jetstream(self) -> JetStreamContext:
        if self._nc is None:
            self._nc = await connect(self.nats_url)
            js = self._nc.jetstream(timeout=5)
            await ensure_stream(js)
        return self._nc.jetstream(timeout=5)

    async def _relay_batch(self, js: JetStreamContext) -> bool:
        """Publish the next batch; False when there was nothing to publish."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT id, payload FROM outbox_events WHERE id > :after "
                        "AND id <= :upto ORDER BY id LIMIT :n"
                    ),
                    {
                        "after": self.relayed_id,
                        "upto": self.ceiling() if self.ceiling is not None else 2**63 - 1,
                        "n": BATCH,
                    },
                )
            ).all()
        if not rows:
            return False
        acks: list[asyncio.Future[Any]] = []
        for event_id, payload in rows:
            event = payload if isinstance(payload, dict) else json.loads(payload)
            for subject, msg_id, body in events.split(event_id, event):
                acks.append(await js.publish_async(subject, body, headers={"Nats-Msg-Id": msg_id}))
        await asyncio.wait_for(asyncio.gather(*acks), 10)
        last = rows[-1][0]
        async with self.engine.begin() as conn:
            await conn.execute(
                text("UPDATE outbox_relay_state SET relayed_id = :id WHERE id = 1"), {"id": last}
            )
        self.published += len(acks)
        self.relayed_id = last
        metrics.OUTBOX_RELAYED.set(last)
        return True


@contextlib.asynccontextmanager
async def run_relay(
    settings: Settings, engine: AsyncEngine, ceiling: Callable[[], int] | None = None
) -> AsyncIterator[OutboxRelay]:
    """The relay to `settings.nats_url`, or to an embedded NATS server when it is unset."""
    embedded: EmbeddedNats | None = None
    url = settings.nats_url
    if url is None:
        embedded = EmbeddedNats(settings.data_dir / "nats")
        url = await asyncio.to_thread(embedded.start)
    relay = OutboxRelay(engine, url, ceiling=ceiling)
    try:
        await relay.start()
        yield relay
    finally:
        await relay.stop()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
