"""The order path in each role (`EXCHANGE_ROLE`):

- `all` (default): one process; the sequencer is here (with the outbox and its relay to
  NATS when `outbox_enabled`).
- `sequencer`: the single writer, active while it holds the leadership (`app.bus.leader`),
  standing by until then; writes the outbox, relays it to JetStream, answers commands and
  snapshot requests over NATS (`app.bus.rpc`).
- `api`, `gateway`: no sequencer: commands go to the active one over NATS, the books come
  from its events (`app.bus.feed`).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.bus.feed import Feed
from app.bus.leader import Leadership
from app.bus.relay import OutboxRelay, connect, run_relay
from app.bus.rpc import CommandServer, RemoteOrderService
from app.config import Settings
from app.markets.service import StateListener
from app.ops.readiness import CheckResult, ReadinessCheck
from app.orders.commands import OrderService
from app.orders.readmodel import OrdersView
from app.orders.sequencer import Sequencer

ROLES = ("all", "api", "sequencer", "gateway")


class NatsUrlMissing(RuntimeError):
    pass


@dataclass
class OrderPath:
    orders: OrderService
    view: OrdersView
    sequencer: Sequencer | None  # when it runs in this process
    check: ReadinessCheck
    relay: OutboxRelay | None = None


@contextlib.asynccontextmanager
async def order_path(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    market_listeners: list[StateListener],
) -> AsyncIterator[OrderPath]:
    """The order service and view of this process's role, started (and stopped after)."""
    role = settings.role
    if role == "all":
        sequencer = _sequencer(settings, engine, market_listeners, outbox=settings.outbox_enabled)
        await sequencer.start()
        try:
            async with contextlib.AsyncExitStack() as stack:
                relay = None
                if settings.outbox_enabled:
                    relay = await stack.enter_async_context(
                        run_relay(settings, engine, lambda: sequencer.last_event_id)
                    )
                    sequencer.on_event = relay.poke
                check = _sequencer_check(sequencer)
                yield OrderPath(sequencer, sequencer.view, sequencer, check, relay)
        finally:
            await sequencer.stop()
        return
    if settings.nats_url is None:
        raise NatsUrlMissing(f"the {role} role needs NATS_URL (the NATS server of the cluster)")
    nc = await connect(settings.nats_url)
    try:
        if role == "sequencer":
            async with _active_sequencer(settings, engine, market_listeners, nc) as path:
                yield path
        else:
            feed = Feed(nc)
            await feed.start()
            try:
                yield OrderPath(
                    RemoteOrderService(nc, sessionmaker), feed.view, None, _feed_check(feed)
                )
            finally:
                await feed.stop()
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def _active_sequencer(
    settings: Settings, engine: AsyncEngine, market_listeners: list[StateListener], nc: Client
) -> AsyncIterator[OrderPath]:
    assert settings.nats_url is not None
    leadership = Leadership(engine)
    sequencer = _sequencer(settings, engine, market_listeners, outbox=True)
    sequencer.fence = leadership.check
    relay = OutboxRelay(engine, settings.nats_url, ceiling=lambda: sequencer.last_event_id)
    server = CommandServer(nc, sequencer, engine)

    async def lead() -> None:
        await leadership.acquire()
        await sequencer.start()
        await relay.start()
        sequencer.on_event = relay.poke
        await server.start()

    task = asyncio.create_task(lead(), name="sequencer-leadership")

    async def check() -> CheckResult:
        active = leadership.leader and sequencer.running
        return CheckResult(active, {"role": "sequencer", "active": leadership.leader})

    try:
        yield OrderPath(sequencer, sequencer.view, sequencer, check, relay)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.stop()
        await relay.stop()
        await sequencer.stop()
        await leadership.release()


def _sequencer(
    settings: Settings, engine: AsyncEngine, market_listeners: list[StateListener], *, outbox: bool
) -> Sequencer:
    return Sequencer(
        engine,
        market_listeners,
        max_queue=settings.sequencer_max_queue,
        admission_timeout=settings.sequencer_admission_timeout_seconds,
        outbox=outbox,
    )


def _sequencer_check(sequencer: Sequencer) -> ReadinessCheck:
    async def check() -> CheckResult:
        return CheckResult(sequencer.running, {"recovering": sequencer.recovering})

    return check


def _feed_check(feed: Feed) -> ReadinessCheck:
    async def check() -> CheckResult:
        ok = feed.synced.is_set() and feed.view.running
        return CheckResult(ok, {"synced": feed.synced.is_set(), "applied": feed.applied})

    return check
