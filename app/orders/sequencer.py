"""The order sequencer: the single writer of every order, cancel and market-state command.

A thin loop: commands queue up while a group commits; the next group takes all of them (up
to `MAX_GROUP`), reads what they need (`app.orders.store`: the markets' rules, the locked
available balances), lets the order core decide and apply each in turn
(`app.orders.core`), writes what they did in ONE transaction (group commit) and publishes
the committed result (`app.orders.readmodel`). An answer is released only after its group
has committed, so an acknowledged order survives a crash.

Failures: the core refuses bad commands before touching a book, so a group fails only when
Postgres does. Then the books the group changed are restored from Postgres (only those),
and the commands are retried one by one, so that one bad member is refused alone; while
Postgres is down, commands are refused at once with 503 and the sequencer recovers by
itself when it answers again. A command waits at most `admission_timeout` to be started.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.service import NonceWrite
from app.kit import metrics
from app.kit.dberrors import invalid_value, unavailable
from app.kit.errors import AppError, InternalError
from app.markets.fees import volumes
from app.markets.rules import DELISTED, parse_symbol
from app.markets.service import StateListener, change_state, get_market, halt_retired
from app.models import Market
from app.orders import events, store, wire
from app.orders.commands import (
    HaltRetiredMarkets,
    LiveOrder,
    PlaceOrders,
    SequencerCommand,
    SetMarketState,
)
from app.orders.core import Funds, Markets, OrderCore, Outcome
from app.orders.errors import SequencerBusy, SequencerUnavailable
from app.orders.readmodel import PUBLISHED_DEPTH, Committed, OrdersView

log = logging.getLogger("app.orders")

MAX_GROUP = 256


@dataclass
class _Pending:
    command: SequencerCommand
    future: asyncio.Future[Any]
    command_id: str | None = None  # a remote caller's idempotency id (kept in the outbox)
    taken: bool = False  # a group has started it: its answer will come
    abandoned: bool = False  # its submitter gave up before any group started it


class Sequencer:
    # A command's nonce is recorded by its group's read statement (`PlaceOrders.nonce`): a
    # command whose nonce the database refuses (used already, or its key revoked) is
    # refused alone, before the core sees it.
    records_nonces = True

    def __init__(
        self,
        engine: AsyncEngine,
        market_listeners: list[StateListener],
        *,
        max_queue: int = 10_000,
        admission_timeout: float = 5.0,
        outbox: bool = False,
        fence: Callable[[AsyncSession], Awaitable[None]] | None = None,
    ) -> None:
        self.db = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self.market_listeners = market_listeners
        self.max_queue = max_queue
        self.admission_timeout = admission_timeout
        # Write each group's committed event to the outbox (for the relay to NATS), and
        # call `on_event` after each such commit (the relay's wake-up).
        self.outbox = outbox
        self.on_event: Callable[[], None] | None = None
        # Checked first in every group's transaction (the active sequencer's fencing token):
        # raises when this sequencer must not commit.
        self.fence = fence
        self.last_event_id = 0  # the outbox's last committed event (the books include it)
        self.view = OrdersView()
        self.core = OrderCore(self.clock)
        self.recovering = False
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._last_ts = 0
        self._dirty: set[int] = set()  # markets a failed group changed: to restore
        self._background: set[asyncio.Task[None]] = set()  # `enqueue`d commands
        self.groups_committed = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        async with self.sessionmaker() as session:
            self.core.last_id = max(self.core.last_id, await store.last_order_id(session))
            self.last_event_id = await store.last_event_id(session)
        await self.restore(None)
        self._task = asyncio.create_task(self._run(), name="order-sequencer")
        self.view.running = True

    async def stop(self) -> None:
        self.view.running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            self._queue.get_nowait().future.set_exception(
                SequencerUnavailable("the order service is shutting down")
            )

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self.recovering

    async def submit(self, command: SequencerCommand, command_id: str | None = None) -> Any:
        """The command's result once its group has committed. Refused at once (503, nothing
        done) while the order service is down or recovering or its queue is full, and after
        `admission_timeout` if no group has started it by then; once started, its answer
        comes when the group ends (bounded by the database's statement timeouts)."""
        if self._task is None or self._task.done():
            raise SequencerUnavailable("the order service is not running")
        if self.recovering:
            metrics.SEQUENCER_REFUSED.labels("recovering").inc()
            raise SequencerUnavailable(
                "the order service is recovering from a database failure; retry", retry_after=2
            )
        if self._queue.qsize() >= self.max_queue:
            metrics.SEQUENCER_REFUSED.labels("queue_full").inc()
            raise SequencerBusy("the order service is saturated; retry shortly")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        pending = _Pending(command, future, command_id)
        self._queue.put_nowait(pending)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.admission_timeout)
        except TimeoutError:
            if not pending.taken:
                pending.abandoned = True
                metrics.SEQUENCER_REFUSED.labels("admission_timeout").inc()
                raise SequencerBusy(
                    f"not started within {self.admission_timeout:g} s; nothing was done"
                ) from None
        return await future

    def clock(self) -> int:
        """Strictly increasing ns timestamps: time priority survives a restore."""
        now = time.time_ns()
        self._last_ts = now if now > self._last_ts else self._last_ts + 1
        return self._last_ts

    async def restore(self, market_ids: set[int] | None) -> None:
        """The books of `market_ids` (None: every market) exactly as committed."""
        metrics.SEQUENCER_REBUILDS.labels("all" if market_ids is None else "markets").inc()
        async with self.sessionmaker() as session:
            books = await store.load(session, market_ids)
        changes = []
        for book in books:
            for order in book.open_orders:
                self._last_ts = max(self._last_ts, order.priority_ts)
            self.core.restore(
                book.id,
                book.tick,
                book.lot,
                book.open_orders,
                book.next_match_id,
                book.stops,
                book.last_price,
            )
            self.view.learn(book.id, book.symbol)
            changes.append(self.view.publish(book.id, self.core.depth(book.id, PUBLISHED_DEPTH)))
        self.view.emit(Committed(changes, [], []))

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            try:
                results = await self._run_group(batch)
            except Exception as exc:
                results = await self._after_failure(batch, exc)
            for pending, result in zip(batch, results, strict=True):
                if pending.future.done():
                    continue
                if isinstance(result, BaseException):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)

    async def _next_batch(self) -> list[_Pending]:
        """The next group's commands: all that are queued (up to MAX_GROUP), in order, but
        those whose submitter gave up before they were started."""
        batch: list[_Pending] = []
        while not batch or (len(batch) < MAX_GROUP and not self._queue.empty()):
            pending = await self._queue.get() if not batch else self._queue.get_nowait()
            if pending.abandoned or pending.future.done():
                continue
            pending.taken = True
            batch.append(pending)
        return batch

    async def _run_group(self, batch: list[_Pending]) -> list[Any]:
        """One result (or AppError) per command, in order, once the group has committed."""
        out = Outcome()
        commands = [p.command for p in batch]
        phases = metrics.GroupTimer()
        try:
            async with self.sessionmaker() as session:
                if self.fence is not None:
                    await self.fence(session)
                symbols, ids = self.core.markets_named(commands)
                symbols |= {
                    parse_symbol(c.symbol) for c in commands if isinstance(c, SetMarketState)
                }
                needed = self.core.funds_needed(commands)
                claims = [c.nonce for c in commands if isinstance(c, PlaceOrders) and c.nonce]
                nonces = NonceWrite(claims) if claims else None
                rules, funds = await store.read_group(session, symbols, ids, needed, nonces)
                traders = (
                    self.core.traders(commands, [m.id for m in rules])
                    if any(m.tiers for m in rules)
                    else set()
                )
                markets = Markets(rules, await volumes(session, traders))
                for m in markets.by_id.values():
                    self.view.learn(m.id, m.symbol)
                phases.lap("read")
                results: list[Any] = []
                for command in commands:
                    refused = _refused_nonce(command, nonces)
                    if refused is not None:  # used already, or its key revoked: not done
                        results.append(refused)
                    elif isinstance(command, SetMarketState):
                        results.append(await self._set_state(session, command, markets, funds, out))
                    elif isinstance(command, HaltRetiredMarkets):
                        results.append(await self._halt_retired(session))
                    else:
                        results.append(self.core.execute(command, markets, funds, out))
                phases.lap("decide")
                await store.write(session, out, phases)
                depths = {m: self.core.depth(m, PUBLISHED_DEPTH) for m in sorted(out.changed)}
                event_id = None
                # The orders as this group commits them, for the feeds and the answers.
                snapshots = {o.id: o.snapshot() for o in out.touched.values()}
                committed = Committed(
                    [self.view.next_change(m, d) for m, d in depths.items()],
                    out.fills,
                    list(snapshots.values()),
                    frozenset(o.id for o in out.touched.values() if o.created),
                )
                if self.outbox and (committed.books or committed.fills or committed.orders):
                    event = events.encode(self.view.epoch, self.view.symbols(), committed)
                    event["answers"] = {
                        p.command_id: wire.answer_json(r)
                        for p, r in zip(batch, results, strict=True)
                        if p.command_id is not None
                    }
                    event_id = await store.write_event(session, event)
                await session.commit()
                phases.lap("commit")
                if nonces is not None:
                    nonces.committed()
        except BaseException:
            self._dirty |= out.changed
            raise
        store.written(out)
        self.groups_committed += 1
        for market_id, depth in depths.items():
            self.view.publish(market_id, depth)
        if event_id is not None:
            self.last_event_id = event_id
        self.view.emit(committed)
        if self.outbox and self.on_event is not None:
            self.on_event()
        phases.lap("publish")
        metrics.SEQUENCER_GROUP_SIZE.observe(len(batch))
        return [_as_committed(r, snapshots) for r in results]

    async def _set_state(
        self,
        session: AsyncSession,
        command: SetMarketState,
        markets: Markets,
        funds: Funds,
        out: Outcome,
    ) -> Market | AppError:
        """A market's state changes with the other commands of its group (a delisting
        cancels its open orders in the same transaction). Its own SQL runs under a
        savepoint: refused, it leaves the group's transaction as it was."""
        try:
            async with session.begin_nested():
                market = await get_market(session, command.symbol, for_update=True)
                await change_state(
                    session,
                    command.actor,
                    market,
                    command.state,
                    command.reason,
                    self.market_listeners,
                )
        except AppError as exc:
            return exc
        self.view.learn(market.id, market.symbol)
        if command.state == DELISTED:
            self.core.close_market(markets.by_id[market.id], "delisted", funds, out)
        return market

    async def _halt_retired(self, session: AsyncSession) -> list[str] | AppError:
        """Halt the markets of deregistered subnets (a halt cancels nothing)."""
        try:
            async with session.begin_nested():
                halted = await halt_retired(session, self.market_listeners)
        except AppError as exc:
            return exc
        for market in halted:
            self.view.learn(market.id, market.symbol)
        if halted:
            log.info(
                "halted markets of retired subnets", extra={"markets": [m.symbol for m in halted]}
            )
        return [m.symbol for m in halted]

    def enqueue(self, command: SequencerCommand) -> None:
        """Submit without waiting for the answer (for notices: the listener must not
        block); a refusal or failure is logged."""

        async def run() -> None:
            try:
                await self.submit(command)
            except AppError as exc:
                log.warning(
                    "queued command refused", extra={"code": exc.code, "error": exc.message}
                )

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ failures

    async def _after_failure(self, batch: list[_Pending], exc: Exception) -> list[Any]:
        """A group failed: its transaction rolled back, so the books it changed are ahead
        of the database. Restore those (only those) from Postgres. If the database is down,
        refuse the group (nothing was acknowledged) and everything queued until it is back;
        else redo the commands one by one, so that one bad member is refused alone."""
        outage = unavailable(exc)
        if outage is not None:
            for pending in batch:  # answer now, not once the database is back
                if not pending.future.done():
                    pending.future.set_exception(_unavailable())
            await self._recover(outage=True)
            return [_unavailable() for _ in batch]
        log.warning("group failed; restoring its books, retrying one by one", exc_info=exc)
        await self._recover(outage=False)
        if len(batch) == 1:
            return [self._refusal(exc)]
        results: list[Any] = []
        for pending in batch:
            try:
                results.extend(await self._run_group([pending]))
            except Exception as alone:
                down = unavailable(alone) is not None
                if down and not pending.future.done():
                    pending.future.set_exception(_unavailable())
                await self._recover(outage=down)
                results.append(_unavailable() if down else self._refusal(alone))
        return results

    @staticmethod
    def _refusal(exc: Exception) -> AppError:
        """Why one command that failed on its own is refused."""
        if isinstance(exc, AppError):
            return exc
        refused = invalid_value(exc)
        if refused is not None:
            return refused
        log.error("command failed on its own", exc_info=exc)
        return InternalError("the command failed; it was not done")

    async def _recover(self, *, outage: bool) -> None:
        """Restore the books the failed group changed. While the database is down (an
        outage, or a restore that fails), refuse queued and new commands at once with 503
        and retry with backoff until it answers again."""
        dirty, self._dirty = set(self._dirty), set()
        delay = 0.05
        try:
            if outage:
                self._refuse_queued()
            while True:
                try:
                    if outage:
                        async with self.db.connect() as conn:
                            await conn.execute(text("SELECT 1"))
                    if dirty:
                        await self.restore(dirty)
                    return
                except Exception as exc:
                    if not self.recovering:
                        log.warning("the database is unavailable; refusing orders until it is back")
                    outage = True
                    self._refuse_queued()
                    log.debug("recovery attempt failed: %s", exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
        finally:
            self.recovering = False
            self.view.running = self.running

    def _refuse_queued(self) -> None:
        self.recovering = True
        self.view.running = False
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(_unavailable())


def _as_committed(result: Any, snapshots: dict[int, LiveOrder]) -> Any:
    """A command's answer as its group committed it: snapshots of its orders, which the next
    groups go on changing in memory (an answer serialized later must not show a fill that
    has not committed yet)."""
    if isinstance(result, LiveOrder):
        return snapshots.get(result.id) or result.snapshot()
    if isinstance(result, list):
        return [_as_committed(r, snapshots) if isinstance(r, LiveOrder) else r for r in result]
    return result


def _refused_nonce(command: SequencerCommand, nonces: NonceWrite | None) -> AppError | None:
    if nonces is None or not isinstance(command, PlaceOrders) or command.nonce is None:
        return None
    return nonces.refusal(command.nonce)


def _unavailable() -> SequencerUnavailable:
    return SequencerUnavailable(
        "the database is unavailable; retry (a retry with the same client_order_id is safe)",
        retry_after=2,
    )
