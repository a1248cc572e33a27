"""The order sequencer: the single writer of every order, cancel and market-state command.

Commands queue up while a group commits; the next group takes all of them (up to a limit),
runs them one after the other against the in-memory books, and writes what they produced
(orders, fills, every ledger leg) in ONE transaction: group commit. A command's answer is
released only after its group has committed, so an acknowledged order survives a crash.

Funds are checked against the `available` balances of the group's users, read under row
locks at the start of the group: nobody else can spend them until the group commits, and
the ledger's constraints stay as the safety net. If a group fails to commit, the in-memory
books are ahead of the database: they are rebuilt from Postgres (fail-stop, never guess)
and the group's commands are retried one by one, each in its own transaction.
"""

import asyncio
import contextlib
import copy
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.kit import metrics
from app.kit.dberrors import invalid_value, unavailable
from app.kit.errors import AppError, InternalError
from app.ledger.errors import InsufficientFunds
from app.ledger.service import (
    NewHold,
    TransferSpec,
    apply_group,
    get_account_id,
    hold_placement,
    system_account_id,
)
from app.markets.rules import CANCEL_ONLY, DELISTED, HALTED, POST_ONLY, parse_symbol
from app.markets.service import StateListener, change_state, get_market
from app.matching import (
    Amend,
    Cancel,
    Depth,
    EngineSnapshot,
    MatchingEngine,
    OpenOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    PlaceLimit,
    PlaceMarket,
    Side,
    StpMode,
    TimeInForce,
    quote_amount,
)
from app.matching.fees import BPS, fee_ceil, quote_budget_hold
from app.models import Fill, Market, Order, Subnet
from app.orders.commands import (
    AmendOrder,
    CancelOrders,
    LiveOrder,
    OrderRequest,
    PlaceOrders,
    SequencerCommand,
    SetMarketState,
)
from app.orders.errors import (
    DuplicateClientOrderId,
    InvalidOrder,
    MarketClosed,
    OrderNotFound,
    PostOnlyWouldTake,
    SequencerBusy,
    SequencerUnavailable,
)

log = logging.getLogger("app.orders")

QUOTE = "TAO"
MAX_GROUP = 256
PUBLISHED_DEPTH = 1000


@dataclass(slots=True)
class MarketView:
    """What a group needs of a market (read at the start of each group)."""

    id: int
    symbol: str
    base: str
    state: str
    tick: int
    lot: int
    min_size: int
    min_notional: int
    maker_bps: int
    taker_bps: int
    band_bps: int
    reference_price: int  # on-chain pool price, rao per alpha


@dataclass(slots=True)
class FillRecord:
    market_id: int
    match_id: int
    maker: LiveOrder
    taker: LiveOrder
    taker_side: str
    price: int
    qty: int
    quote: int
    maker_fee: int
    taker_fee: int
    ts: int = 0  # engine time of the match (ns since the epoch)


@dataclass(frozen=True, slots=True)
class BookChange:
    """One committed publication of a market's book: `sequence` is `book_seq` after it (one
    more than the previous change of that market); `before` and `after` are the published
    depths (`after` is what `Sequencer.published` now holds)."""

    market_id: int
    sequence: int
    before: Depth
    after: Depth


@dataclass(frozen=True, slots=True)
class Committed:
    """What one group committed, handed to `Sequencer.listeners` right after the commit.

    `orders` are copies of the orders the group touched (as committed); `fills` are the
    group's fills in match order. A rebuild publishes every book with no fills or orders."""

    books: list[BookChange]
    fills: list[FillRecord]
    orders: list[LiveOrder]


# Called synchronously on the sequencer's task after each commit: must only enqueue.
CommitListener = Callable[[Committed], None]


@dataclass
class _Pending:
    command: SequencerCommand
    future: asyncio.Future[Any]
    taken: bool = False  # a group has started it: its answer will come
    abandoned: bool = False  # its submitter gave up before any group started it


@dataclass
class _Group:
    """The work of one group: what it read, and what it will write."""

    session: AsyncSession
    markets: dict[int, MarketView]
    available: dict[int, int]  # locked available balances: account id -> balance
    transfers: list[TransferSpec] = field(default_factory=list)
    new_holds: list[NewHold] = field(default_factory=list)
    resolve: dict[str, str] = field(default_factory=dict)
    touched: dict[int, LiveOrder] = field(default_factory=dict)
    fills: list[FillRecord] = field(default_factory=list)
    # Set once the current command changed a book: from then on a refusal cannot be undone
    # in memory, so it fails the group (rebuild and retry one by one).
    book_changed: bool = False
    changed_books: set[int] = field(default_factory=set)


class _Unwind(Exception):
    """A command was refused after it had changed a book: the group must be redone."""

    def __init__(self, error: AppError) -> None:
        super().__init__(error.message)
        self.error = error


def _unavailable() -> SequencerUnavailable:
    return SequencerUnavailable(
        "the database is unavailable; retry (a retry with the same client_order_id is safe)",
        retry_after=2,
    )


def _fee(quote: int, bps: int) -> int:
    # Per fill, rounded down: the sum over an order's fills never exceeds the fee its hold
    # was sized for (ceil of the total), whatever the split.
    return quote * bps // BPS


class Sequencer:
    def __init__(
        self,
        engine: AsyncEngine,
        market_listeners: list[StateListener],
        *,
        max_queue: int = 10_000,
        admission_timeout: float = 5.0,
    ) -> None:
        self.db = engine
        self.max_queue = max_queue
        self.admission_timeout = admission_timeout
        # Set while the books are being rebuilt after a failure (the database may be down):
        # new commands are refused at once with 503 instead of waiting.
        self.recovering = False
        # Markets whose in-memory book changed since the last commit: what a failed group
        # must rebuild (never every book).
        self._dirty: set[int] = set()
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self.market_listeners = market_listeners
        self.books: dict[int, MatchingEngine] = {}
        self.orders: dict[int, LiveOrder] = {}  # open orders
        self.client_ids: dict[tuple[int, str], int] = {}  # (user, client id) -> open order
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._last_id = 0  # the last order id handed out
        self._last_ts = 0
        self.groups_committed = 0
        # Per market, the committed book as market data sees it: a group's changes show only
        # once it has committed. `book_seq` grows with every such publication.
        self.book_seq: dict[int, int] = {}
        self.published: dict[int, Depth] = {}
        self.symbols: dict[int, str] = {}  # market id -> symbol, for answers
        # Post-commit publication hooks (market data): cheap, enqueue-only callables.
        self.listeners: list[CommitListener] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.rebuild()
        self._task = asyncio.create_task(self._run(), name="order-sequencer")

    async def stop(self) -> None:
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

    async def submit(self, command: SequencerCommand) -> Any:
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
        pending = _Pending(command, future)
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
        """Strictly increasing ns timestamps: time priority survives a rebuild."""
        now = time.time_ns()
        self._last_ts = now if now > self._last_ts else self._last_ts + 1
        return self._last_ts

    # ------------------------------------------------------------------ rebuild

    async def rebuild(self, market_ids: set[int] | None = None) -> None:
        """Books and open orders exactly as committed in Postgres: every market's, or only
        those of `market_ids` (what a failed group changed)."""
        only = sorted(market_ids) if market_ids is not None else None
        metrics.SEQUENCER_REBUILDS.labels("all" if only is None else "markets").inc()
        async with self.sessionmaker() as session:
            max_id = await session.scalar(select(func.max(Order.id))) or 0
            open_orders = select(Order).where(Order.status == "open")
            market_rows = select(Market)
            holds_sql = (
                "SELECT h.id, h.consumed + h.released FROM ledger_holds h "
                "JOIN orders o ON o.hold_id = h.id WHERE o.status = 'open'"
            )
            last = select(Fill.market_id, func.max(Fill.match_id)).group_by(Fill.market_id)
            if only is not None:
                open_orders = open_orders.where(Order.market_id.in_(only))
                market_rows = market_rows.where(Market.id.in_(only))
                holds_sql += " AND o.market_id = ANY(:ids)"
                last = last.where(Fill.market_id.in_(only))
            rows = list(await session.scalars(open_orders))
            markets = {m.id: m for m in await session.scalars(market_rows)}
            holds = await session.execute(text(holds_sql), {"ids": only} if only else {})
            used: dict[str, int] = {hold_id: int(n) for hold_id, n in holds}
            match_ids: dict[int, int] = {m: int(n) for m, n in await session.execute(last)}
        # Never reuse an order id, even one a failed group handed out in memory only.
        self._last_id = max(self._last_id, int(max_id))
        if only is None:
            self.orders, self.client_ids = {}, {}
        else:
            for oid in [o.id for o in self.orders.values() if o.market_id in markets]:
                gone = self.orders.pop(oid)
                if gone.client_order_id:
                    self.client_ids.pop((gone.user_id, gone.client_order_id), None)
        self._dirty -= set(markets)
        by_market: dict[int, list[Order]] = {}
        for row in rows:
            live = _live_from_row(row, markets[row.market_id].base_asset)
            live.hold_used = int(used.get(row.hold_id, 0))
            self.orders[live.id] = live
            if live.client_order_id:
                self.client_ids[(live.user_id, live.client_order_id)] = live.id
            by_market.setdefault(row.market_id, []).append(row)
            self._last_ts = max(self._last_ts, row.priority_ts)
        if only is None:
            self.books = {}
        changes: list[BookChange] = []
        for market_id, market in markets.items():
            self.symbols[market_id] = market.symbol
            resting = by_market.get(market_id, [])
            bids = sorted(
                (o for o in resting if o.side == "buy"),
                key=lambda o: (-(o.price or 0), o.priority_ts, o.id),
            )
            asks = sorted(
                (o for o in resting if o.side == "sell"),
                key=lambda o: (o.price or 0, o.priority_ts, o.id),
            )
            snapshot = EngineSnapshot(
                market.tick_size,
                market.lot_size,
                [_open_order(o) for o in (*bids, *asks)],
                (match_ids.get(market_id) or 0) + 1,
                1,
            )
            self.books[market_id] = MatchingEngine.restore(snapshot, clock=self.clock)
            changes.append(self._publish(market_id))
        self._emit(Committed(changes, [], []))

    def _book(self, market: MarketView) -> MatchingEngine:
        """The market's book, to change: marked dirty until its group commits."""
        self._dirty.add(market.id)
        book = self.books.get(market.id)
        if book is None:
            book = self.books[market.id] = MatchingEngine(market.tick, market.lot, clock=self.clock)
        # Parameters may change while orders rest: new orders follow the current ones.
        book.tick, book.lot = market.tick, market.lot
        return book

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

    async def _after_failure(self, batch: list[_Pending], exc: Exception) -> list[Any]:
        """A group failed: its transaction rolled back, so the books it changed are ahead
        of the database. Rebuild those (only those) from Postgres. If the database is down,
        refuse the group (nothing was acknowledged) and everything queued until it is back;
        else redo the commands one by one, so that one bad member is refused alone."""
        outage = unavailable(exc)
        if outage is not None:
            # Answer now, not once the database is back.
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(_unavailable())
            await self._recover(True)
            return [_unavailable() for _ in batch]
        if not isinstance(exc, _Unwind):
            log.warning("group failed; rebuilding its books, retrying one by one", exc_info=exc)
        await self._recover(False)
        if len(batch) == 1:
            return [self._refusal(exc)]
        results: list[Any] = []
        for pending in batch:
            try:
                results.extend(await self._run_group([pending]))
            except Exception as alone:
                outage = unavailable(alone)
                if outage is not None and not pending.future.done():
                    pending.future.set_exception(_unavailable())
                await self._recover(outage is not None)
                results.append(_unavailable() if outage is not None else self._refusal(alone))
        return results

    @staticmethod
    def _refusal(exc: Exception) -> AppError:
        """Why one command that failed on its own is refused."""
        if isinstance(exc, _Unwind):
            return exc.error
        refused = invalid_value(exc)
        if refused is not None:
            return refused
        log.error("command failed on its own", exc_info=exc)
        return InternalError("the command failed; it was not done")

    async def _recover(self, outage: bool) -> None:
        """Rebuild the books changed since the last commit. While the database is down
        (an outage, or a rebuild that fails), refuse queued and new commands at once with
        503 and retry with backoff until it answers again."""
        delay = 0.05
        try:
            if outage:
                self._refuse_queued()
            while True:
                try:
                    if outage:
                        async with self.db.connect() as conn:
                            await conn.execute(text("SELECT 1"))
                    if self._dirty:
                        await self.rebuild(set(self._dirty))
                    return
                except Exception as exc:
                    if not self.recovering:
                        log.warning("the database is unavailable; refusing orders until it is back")
                    outage = self.recovering = True
                    self._refuse_queued()
                    log.debug("recovery attempt failed: %s", exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
        finally:
            self.recovering = False

    def _refuse_queued(self) -> None:
        self.recovering = True
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(_unavailable())

    async def _run_group(self, batch: list[_Pending]) -> list[Any]:
        """Run a group of commands; returns one result (or AppError) per command, in order,
        after the group's transaction committed."""
        async with self.sessionmaker() as session:
            group = await self._open_group(session, [p.command for p in batch])
            results: list[Any] = []
            for pending in batch:
                results.append(await self._execute(group, pending.command))
            await self._write(group)
            await session.commit()
        self._dirty.clear()
        self.groups_committed += 1
        changes = [self._publish(market_id) for market_id in sorted(group.changed_books)]
        if self.listeners:
            touched = [copy.copy(o) for o in group.touched.values()]
            self._emit(Committed(changes, group.fills, touched))
        return results

    def _publish(self, market_id: int) -> BookChange:
        seq = self.book_seq[market_id] = self.book_seq.get(market_id, 0) + 1
        before = self.published.get(market_id) or Depth([], [])
        after = self.published[market_id] = self.books[market_id].depth(PUBLISHED_DEPTH)
        return BookChange(market_id, seq, before, after)

    def _emit(self, committed: Committed) -> None:
        for listener in self.listeners:
            try:
                listener(committed)
            except Exception:  # a market-data bug must never stop the order path
                log.exception("commit listener failed")

    async def _open_group(self, session: AsyncSession, commands: list[SequencerCommand]) -> _Group:
        symbols = {
            parse_symbol(r.market) for c in commands if isinstance(c, PlaceOrders) for r in c.orders
        }
        market_ids = {
            self.orders[o].market_id
            for c in commands
            if isinstance(c, CancelOrders | AmendOrder)
            for o in self._ids_of(c)
        }
        stmt = select(Market, Subnet.price_rao).join(Subnet, Subnet.id == Market.subnet_id)
        rows = await session.execute(
            stmt.where((Market.symbol.in_(symbols)) | (Market.id.in_(market_ids)))
        )
        markets = {m.id: _market_view(m, price) for m, price in rows}
        self.symbols.update((m.id, m.symbol) for m in markets.values())
        # Lock the available balances this group may spend, in id order (no deadlocks).
        needed: set[tuple[int, str]] = set()
        by_symbol = {m.symbol: m for m in markets.values()}
        for c in commands:
            if isinstance(c, PlaceOrders):
                for r in c.orders:
                    m = by_symbol.get(parse_symbol(r.market))
                    if m is not None:
                        needed.add((c.user_id, QUOTE if r.side == "buy" else m.base))
        ids = [await get_account_id(session, user, asset, "available") for user, asset in needed]
        available: dict[int, int] = {}
        if ids:
            rows2 = await session.execute(
                text(
                    "SELECT id, balance FROM ledger_accounts WHERE id = ANY(:ids) "
                    "ORDER BY id FOR NO KEY UPDATE"
                ),
                {"ids": sorted(set(ids))},
            )
            available = {int(r.id): int(r.balance) for r in rows2}
        return _Group(session, markets, available)

    def _ids_of(self, command: CancelOrders | AmendOrder) -> Iterable[int]:
        ids: list[int] = []
        if isinstance(command, AmendOrder):
            found = self._find_own(command.user_id, command.order_id, command.client_order_id)
            return [found] if found is not None else []
        ids.extend(i for i in command.order_ids if i in self.orders)
        for cid in command.client_order_ids:
            oid = self.client_ids.get((command.user_id, cid))
            if oid is not None:
                ids.append(oid)
        return ids

    def _find_own(self, user_id: int, order_id: int | None, client_id: str | None) -> int | None:
        if order_id is not None:
            live = self.orders.get(order_id)
            return order_id if live is not None and live.user_id == user_id else None
        if client_id is not None:
            return self.client_ids.get((user_id, client_id))
        return None

    # ------------------------------------------------------------------ commands

    async def _execute(self, group: _Group, command: SequencerCommand) -> Any:
        # A refused command must leave no trace in the group: work on a savepoint of the
        # group's write lists and in-memory state.
        mark = (len(group.transfers), len(group.new_holds), dict(group.resolve), len(group.fills))
        group.book_changed = False
        try:
            if isinstance(command, PlaceOrders):
                return await self._place(group, command)
            if isinstance(command, CancelOrders):
                return await self._cancel(group, command)
            if isinstance(command, AmendOrder):
                return await self._amend(group, command)
            return await self._set_state(group, command)
        except AppError as exc:
            if group.book_changed:
                raise _Unwind(exc) from exc
            del group.transfers[mark[0] :]
            del group.new_holds[mark[1] :]
            group.resolve = mark[2]
            del group.fills[mark[3] :]
            return exc

    async def _place(self, group: _Group, command: PlaceOrders) -> Any:
        by_symbol = {m.symbol: m for m in group.markets.values()}
        planned: list[tuple[OrderRequest, MarketView]] = []
        for request in command.orders:
            market = by_symbol.get(parse_symbol(request.market))
            if market is None:
                raise InvalidOrder(f"unknown market {request.market}", code="market_not_found")
            self._validate(request, market)
            planned.append((request, market))
        results: list[LiveOrder] = []
        # All or nothing: validation (above) and funds (below) before anything is placed.
        spend: dict[int, int] = {}
        holds: list[tuple[int, int, int]] = []  # (available id, held id, amount)
        for request, market in planned:
            existing = self._retry_of(command.user_id, request)
            if existing is not None:
                holds.append((0, 0, 0))
                continue
            asset = QUOTE if request.side == "buy" else market.base
            amount = self._hold_for(request, market, command.user_id)
            available_id = await get_account_id(group.session, command.user_id, asset, "available")
            held_id = await get_account_id(group.session, command.user_id, asset, "held")
            spend[available_id] = spend.get(available_id, 0) + amount
            if spend[available_id] > group.available.get(available_id, 0):
                raise InsufficientFunds(
                    f"insufficient {asset}: the order needs {amount} base units held",
                    details={"asset": asset, "required": str(amount)},
                )
            holds.append((available_id, held_id, amount))
        if any(r.validate_only for r, _ in planned):
            return [self._preview(command.user_id, r, m) for r, m in planned]
        for (request, market), (available_id, held_id, amount) in zip(planned, holds, strict=True):
            existing = self._retry_of(command.user_id, request)
            if existing is not None:
                results.append(existing)
                continue
            results.append(
                await self._place_one(
                    group, command.user_id, request, market, available_id, held_id, amount
                )
            )
        return results

    def _retry_of(self, user_id: int, request: OrderRequest) -> LiveOrder | None:
        if not request.client_order_id:
            return None
        order_id = self.client_ids.get((user_id, request.client_order_id))
        if order_id is None:
            return None
        order = self.orders[order_id]
        if not request.same_as(order):
            raise DuplicateClientOrderId(
                f"client order id {request.client_order_id!r} is in use by open order {order_id}"
            )
        return order

    def _validate(self, r: OrderRequest, m: MarketView) -> None:
        if m.state in (HALTED, DELISTED):
            raise MarketClosed(f"{m.symbol} is {m.state}", code=f"market_{m.state}")
        if m.state == CANCEL_ONLY:
            raise MarketClosed(f"{m.symbol} accepts only cancels", code="market_cancel_only")
        if r.type == "market" and m.state == POST_ONLY:
            raise MarketClosed(f"{m.symbol} accepts only post-only orders", code="market_post_only")
        if r.type == "limit":
            if r.price is None or r.qty is None:
                raise InvalidOrder("a limit order needs price and qty", code="missing_price_or_qty")
            if r.price % m.tick:
                raise InvalidOrder(
                    f"price must be a multiple of the tick {m.tick}", code="invalid_tick"
                )
            if r.quote_budget is not None:
                raise InvalidOrder("quote_budget is for market buys", code="invalid_order_type")
            if (
                m.reference_price > 0
                and abs(r.price - m.reference_price) * BPS > m.band_bps * m.reference_price
            ):
                raise InvalidOrder(
                    f"price is more than {m.band_bps / 100:g}% from the pool price",
                    code="price_out_of_band",
                    details={"reference_price": str(m.reference_price)},
                )
            if quote_amount(r.price, r.qty) < m.min_notional:
                raise InvalidOrder(
                    f"notional below the minimum {m.min_notional}", code="notional_too_small"
                )
        else:
            if (r.qty is None) == (r.quote_budget is None):
                raise InvalidOrder(
                    "a market order needs exactly one of qty and quote_budget",
                    code="invalid_order_type",
                )
            if r.quote_budget is not None and r.side != "buy":
                raise InvalidOrder(
                    "only market buys can be sized by quote_budget", code="invalid_order_type"
                )
            if r.quote_budget is not None and r.quote_budget < max(m.min_notional, 1):
                raise InvalidOrder(
                    f"notional below the minimum {m.min_notional}", code="notional_too_small"
                )
            if r.post_only or r.time_in_force != "gtc":
                raise InvalidOrder(
                    "market orders take no time in force or post-only", code="invalid_order_type"
                )
        if r.qty is not None:
            if r.qty % m.lot:
                raise InvalidOrder(f"qty must be a multiple of the lot {m.lot}", code="invalid_lot")
            if r.qty < m.min_size:
                raise InvalidOrder(
                    f"qty below the minimum order size {m.min_size}", code="order_too_small"
                )

    def _hold_for(self, r: OrderRequest, m: MarketView, user_id: int) -> int:
        """What the order reserves: sells their alpha, buys the most they can pay plus fee."""
        bps = max(m.maker_bps, m.taker_bps)
        if r.side == "sell":
            assert r.qty is not None
            return r.qty
        if r.type == "limit":
            assert r.price is not None and r.qty is not None
            notional = quote_amount(r.price, r.qty)
            return notional + fee_ceil(notional, bps)
        if r.quote_budget is not None:
            return quote_budget_hold(r.quote_budget, bps)
        assert r.qty is not None
        # A market buy by quantity: the cost of walking the asks, skipping the buyer's own
        # orders (self-trade prevention can skip them), which bounds what it can pay.
        book = self.books.get(m.id)
        left, cost = r.qty, 0
        if book is not None:
            for o in book.open_orders():
                if o.side is Side.SELL and o.owner != user_id and left:
                    take = min(left, o.remaining)
                    cost += quote_amount(o.price, take)
                    left -= take
        if cost == 0:
            raise InvalidOrder("no asks to buy from", code="no_liquidity")
        return cost + fee_ceil(cost, bps)

    def _preview(self, user_id: int, r: OrderRequest, m: MarketView) -> LiveOrder:
        return LiveOrder(
            id=0,
            user_id=user_id,
            market_id=m.id,
            side=r.side,
            type=r.type,
            time_in_force=r.time_in_force,
            post_only=r.post_only,
            stp=r.stp,
            price=r.price,
            qty=r.qty,
            quote_budget=r.quote_budget,
            client_order_id=r.client_order_id,
            hold_id="",
            hold_asset=QUOTE if r.side == "buy" else m.base,
            hold_amount=self._hold_for(r, m, user_id),
            status="validated",
        )

    async def _place_one(
        self,
        group: _Group,
        user_id: int,
        r: OrderRequest,
        m: MarketView,
        available_id: int,
        held_id: int,
        amount: int,
    ) -> LiveOrder:
        order_id = self._last_id = self._last_id + 1
        asset = QUOTE if r.side == "buy" else m.base
        order = LiveOrder(
            id=order_id,
            user_id=user_id,
            market_id=m.id,
            side=r.side,
            type=r.type,
            time_in_force=r.time_in_force,
            post_only=r.post_only or m.state == POST_ONLY,
            stp=r.stp,
            price=r.price,
            qty=r.qty,
            quote_budget=r.quote_budget,
            client_order_id=r.client_order_id,
            hold_id=f"order:{order_id}",
            hold_asset=asset,
            hold_amount=amount,
            created_at=datetime.now(UTC),
            created=True,
        )
        book = self._book(m)
        command: PlaceLimit | PlaceMarket
        if r.type == "limit":
            assert r.price is not None and r.qty is not None
            command = PlaceLimit(
                order_id,
                user_id,
                Side(r.side),
                r.price,
                r.qty,
                TimeInForce(r.time_in_force),
                order.post_only,
                StpMode(r.stp),
            )
        else:
            command = PlaceMarket(
                order_id, user_id, Side(r.side), r.qty, r.quote_budget, StpMode(r.stp)
            )
        events = book.process(command)
        # Both refusals leave the book as it was: no need to unwind the group for them.
        if any(
            isinstance(e, OrderCancelled) and e.reason == "post_only_would_take" for e in events
        ):
            code = "market_post_only" if m.state == POST_ONLY else "post_only_would_take"
            raise PostOnlyWouldTake("a post-only order would have taken liquidity", code=code)
        rejected = next((e for e in events if isinstance(e, OrderRejected)), None)
        if rejected is not None:
            raise InvalidOrder(f"order rejected: {rejected.reason}", code=str(rejected.reason))
        group.book_changed = True
        spec, hold = hold_placement(
            order.hold_id, user_id, asset, amount, available_id, held_id, f"order:{order_id}"
        )
        group.transfers.append(spec)
        group.new_holds.append(hold)
        group.available[available_id] = group.available.get(available_id, 0) - amount
        group.touched[order_id] = order
        self.orders[order_id] = order
        if order.client_order_id:
            self.client_ids[(user_id, order.client_order_id)] = order_id
        await self._apply_events(group, m, events)
        return order

    async def _cancel(self, group: _Group, command: CancelOrders) -> list[LiveOrder]:
        if command.order_ids or command.client_order_ids:
            ids = list(self._ids_of(command))
            for oid in command.order_ids:
                if oid not in self.orders or self.orders[oid].user_id != command.user_id:
                    raise OrderNotFound(f"no open order {oid}")
            if command.client_order_ids and not ids:
                raise OrderNotFound("no open order with that client order id")
        else:
            symbol = parse_symbol(command.market) if command.market else None
            ids = [
                o.id
                for o in self.orders.values()
                if o.user_id == command.user_id
                and (symbol is None or (await self._market(group, o.market_id)).symbol == symbol)
            ]
        targets = [
            (self.orders[oid], await self._market(group, self.orders[oid].market_id))
            for oid in sorted(set(ids))
        ]
        for _, market in targets:
            if market.state == HALTED:
                raise MarketClosed(f"{market.symbol} is halted", code="market_halted")
        for order, market in targets:
            group.book_changed = True
            await self._apply_events(group, market, self._book(market).process(Cancel(order.id)))
        return [order for order, _ in targets]

    async def _amend(self, group: _Group, command: AmendOrder) -> LiveOrder:
        oid = self._find_own(command.user_id, command.order_id, command.client_order_id)
        if oid is None:
            raise OrderNotFound("no open order to amend")
        order = self.orders[oid]
        market = await self._market(group, order.market_id)
        if market.state in (HALTED, DELISTED, CANCEL_ONLY):
            raise MarketClosed(f"{market.symbol} is {market.state}", code=f"market_{market.state}")
        new_price = command.price if command.price is not None else order.price
        new_qty = command.qty if command.qty is not None else order.qty
        assert new_price is not None and new_qty is not None
        if new_price % market.tick or new_qty % market.lot or new_qty <= 0:
            raise InvalidOrder("amended price or qty off the tick or lot", code="invalid_amend")
        if order.side == "buy":
            needed = quote_amount(new_price, new_qty - order.filled_qty)
            needed += fee_ceil(needed, max(market.maker_bps, market.taker_bps))
            if needed > order.hold_left:
                raise InvalidOrder(
                    "an amend may not need more funds than the order holds",
                    code="amend_exceeds_hold",
                )
        elif new_qty - order.filled_qty > order.hold_left:
            raise InvalidOrder(
                "an amend may not need more funds than the order holds", code="amend_exceeds_hold"
            )
        group.book_changed = True
        events = self._book(market).process(Amend(oid, qty=new_qty, price=new_price))
        await self._apply_events(group, market, events)
        return order

    async def _set_state(self, group: _Group, command: SetMarketState) -> Market:
        market = await get_market(group.session, command.symbol, for_update=True)
        await change_state(
            group.session,
            command.actor,
            market,
            command.state,
            command.reason,
            self.market_listeners,
        )
        if command.state == DELISTED:
            view = await self._market(group, market.id)
            view.state = DELISTED
            book = self._book(view)
            for order in [o for o in self.orders.values() if o.market_id == market.id]:
                group.book_changed = True
                order.cancel_reason = "delisted"
                await self._apply_events(group, view, book.process(Cancel(order.id)))
        return market

    async def _market(self, group: _Group, market_id: int) -> MarketView:
        view = group.markets.get(market_id)
        if view is None:
            row = (
                await group.session.execute(
                    select(Market, Subnet.price_rao)
                    .join(Subnet, Subnet.id == Market.subnet_id)
                    .where(Market.id == market_id)
                )
            ).one()
            view = group.markets[market_id] = _market_view(row[0], row[1])
            self.symbols[market_id] = view.symbol
        return view

    # ------------------------------------------------------------------ settlement

    async def _apply_events(self, group: _Group, m: MarketView, events: list[Any]) -> None:
        session = group.session
        group.changed_books.add(m.id)
        for e in events:
            if isinstance(e, OrderAccepted):
                order = self.orders[e.order_id]
                order.priority_ts = e.ts
            elif isinstance(e, OrderFilled):
                maker, taker = self.orders[e.maker_order_id], self.orders[e.taker_order_id]
                buyer, seller = (taker, maker) if e.taker_side == "buy" else (maker, taker)
                maker_fee, taker_fee = _fee(e.quote, m.maker_bps), _fee(e.quote, m.taker_bps)
                buyer_fee = taker_fee if buyer is taker else maker_fee
                seller_fee = taker_fee if seller is taker else maker_fee
                ref = f"fill:{m.id}:{e.match_id}"
                seller_tao = await get_account_id(session, seller.user_id, QUOTE, "available")
                buyer_alpha = await get_account_id(session, buyer.user_id, m.base, "available")
                buyer_held = await get_account_id(session, buyer.user_id, QUOTE, "held")
                seller_held = await get_account_id(session, seller.user_id, m.base, "held")
                fees = await system_account_id(session, QUOTE, "fees")
                legs = [
                    (f"{ref}:quote", buyer_held, seller_tao, e.quote - seller_fee, buyer),
                    (f"{ref}:fee", buyer_held, fees, seller_fee + buyer_fee, buyer),
                    (f"{ref}:base", seller_held, buyer_alpha, e.qty, seller),
                ]
                for tid, debit, credit, amount, payer in legs:
                    if amount > 0:
                        group.transfers.append(
                            TransferSpec(tid, debit, credit, amount, "trade", ref, payer.hold_id)
                        )
                        payer.hold_used += amount
                        if credit in group.available:
                            group.available[credit] += amount
                for o, fee in ((buyer, buyer_fee), (seller, seller_fee)):
                    o.filled_qty += e.qty
                    o.filled_quote += e.quote
                    o.fee += fee
                    group.touched[o.id] = o
                group.fills.append(
                    FillRecord(
                        m.id,
                        e.match_id,
                        maker,
                        taker,
                        str(e.taker_side),
                        e.price,
                        e.qty,
                        e.quote,
                        maker_fee,
                        taker_fee,
                        e.ts,
                    )
                )
                if e.maker_remaining == 0:
                    await self._close(group, maker, "filled")
                if e.taker_remaining == 0 and taker.quote_budget is None:
                    await self._close(group, taker, "filled")
            elif isinstance(e, OrderCancelled):
                ended = self.orders.get(e.order_id)
                if ended is not None and ended.status == "open":
                    # A budget order that spent what it could has done its job.
                    spent = e.reason == "budget_exhausted" and ended.filled_qty > 0
                    status = "filled" if spent else "cancelled"
                    await self._close(group, ended, status, None if spent else str(e.reason))
            elif isinstance(e, OrderAmended):
                order = self.orders[e.order_id]
                order.price, order.qty = e.new_price, e.new_qty
                if not e.kept_priority:
                    order.priority_ts = e.ts
                group.touched[order.id] = order

    async def _close(
        self, group: _Group, order: LiveOrder, status: str, reason: str | None = None
    ) -> None:
        """The order ended: release what its hold has left and resolve the hold, once."""
        if order.status != "open":
            return
        order.status = status
        order.cancel_reason = order.cancel_reason or reason
        order.closed_at = datetime.now(UTC)
        left = order.hold_left
        if left > 0:
            held = await get_account_id(group.session, order.user_id, order.hold_asset, "held")
            available = await get_account_id(
                group.session, order.user_id, order.hold_asset, "available"
            )
            group.transfers.append(
                TransferSpec(
                    f"{order.hold_id}:release",
                    held,
                    available,
                    left,
                    "release",
                    order.hold_id,
                    order.hold_id,
                )
            )
            if available in group.available:
                group.available[available] += left
            order.hold_used += left
        group.resolve[order.hold_id] = "posted" if order.filled_qty else "voided"
        group.touched[order.id] = order
        self.orders.pop(order.id, None)
        if order.client_order_id:
            self.client_ids.pop((order.user_id, order.client_order_id), None)

    # ------------------------------------------------------------------ writing

    async def _write(self, group: _Group) -> None:
        session = group.session
        if group.transfers:
            await apply_group(
                session,
                group.transfers,
                new_holds=group.new_holds,
                resolve=group.resolve,
                batch_id=uuid.uuid4(),
            )
        created = [o for o in group.touched.values() if o.created]
        updated = [o for o in group.touched.values() if not o.created]
        if created:
            await session.execute(
                Order.__table__.insert(),  # type: ignore[attr-defined]
                [_row(o) for o in created],
            )
        if updated:
            await session.execute(
                text(
                    "UPDATE orders o SET price = v.price, qty = v.qty, filled_qty = v.fq, "
                    "filled_quote = v.fquote, fee = v.fee, status = v.status, "
                    "cancel_reason = v.reason, priority_ts = v.pts, updated_at = now(), "
                    "closed_at = v.closed "
                    "FROM unnest(CAST(:ids AS bigint[]), CAST(:price AS bigint[]), "
                    "CAST(:qty AS bigint[]), "
                    "CAST(:fq AS bigint[]), CAST(:fquote AS bigint[]), CAST(:fee AS bigint[]), "
                    "CAST(:status AS text[]), CAST(:reason AS text[]), CAST(:pts AS bigint[]), "
                    "CAST(:closed AS timestamptz[])) "
                    "AS v(id, price, qty, fq, fquote, fee, status, reason, pts, closed) "
                    "WHERE o.id = v.id"
                ),
                {
                    "ids": [o.id for o in updated],
                    "price": [o.price for o in updated],
                    "qty": [o.qty for o in updated],
                    "fq": [o.filled_qty for o in updated],
                    "fquote": [o.filled_quote for o in updated],
                    "fee": [o.fee for o in updated],
                    "status": [o.status for o in updated],
                    "reason": [o.cancel_reason for o in updated],
                    "pts": [o.priority_ts for o in updated],
                    "closed": [o.closed_at for o in updated],
                },
            )
        if group.fills:
            await session.execute(
                Fill.__table__.insert(),  # type: ignore[attr-defined]
                [
                    {
                        "market_id": f.market_id,
                        "match_id": f.match_id,
                        "maker_order_id": f.maker.id,
                        "taker_order_id": f.taker.id,
                        "maker_user_id": f.maker.user_id,
                        "taker_user_id": f.taker.user_id,
                        "taker_side": f.taker_side,
                        "price": f.price,
                        "qty": f.qty,
                        "quote": f.quote,
                        "maker_fee": f.maker_fee,
                        "taker_fee": f.taker_fee,
                    }
                    for f in group.fills
                ],
            )
        for o in created:
            o.created = False


def _market_view(m: Market, price_rao: int) -> MarketView:
    return MarketView(
        m.id,
        m.symbol,
        m.base_asset,
        m.state,
        m.tick_size,
        m.lot_size,
        m.min_size,
        m.min_notional,
        m.maker_fee_bps,
        m.taker_fee_bps,
        m.price_band_bps,
        int(price_rao),
    )


def _row(o: LiveOrder) -> dict[str, Any]:
    return {
        "id": o.id,
        "user_id": o.user_id,
        "market_id": o.market_id,
        "client_order_id": o.client_order_id,
        "side": o.side,
        "type": o.type,
        "time_in_force": o.time_in_force,
        "post_only": o.post_only,
        "stp": o.stp,
        "price": o.price,
        "qty": o.qty,
        "quote_budget": o.quote_budget,
        "filled_qty": o.filled_qty,
        "filled_quote": o.filled_quote,
        "fee": o.fee,
        "status": o.status,
        "cancel_reason": o.cancel_reason,
        "hold_id": o.hold_id,
        "hold_amount": o.hold_amount,
        "priority_ts": o.priority_ts,
        "created_at": o.created_at,
        "closed_at": o.closed_at,
    }


def _live_from_row(row: Order, base: str) -> LiveOrder:
    return LiveOrder(
        id=row.id,
        user_id=row.user_id,
        market_id=row.market_id,
        side=row.side,
        type=row.type,
        time_in_force=row.time_in_force,
        post_only=row.post_only,
        stp=row.stp,
        price=row.price,
        qty=row.qty,
        quote_budget=row.quote_budget,
        client_order_id=row.client_order_id,
        hold_id=row.hold_id,
        hold_asset=QUOTE if row.side == "buy" else base,
        hold_amount=row.hold_amount,
        hold_used=0,
        filled_qty=row.filled_qty,
        filled_quote=row.filled_quote,
        fee=row.fee,
        status=row.status,
        cancel_reason=row.cancel_reason,
        priority_ts=row.priority_ts,
        created_at=row.created_at,
    )


def _open_order(row: Order) -> OpenOrder:
    assert row.price is not None and row.qty is not None
    return OpenOrder(
        row.id,
        row.user_id,
        Side(row.side),
        row.price,
        row.qty,
        row.qty - row.filled_qty,
        row.post_only,
        StpMode(row.stp),
        row.priority_ts,
    )
