"""The matching engine: one central limit order book per market, price-time priority.

Pure and deterministic: no I/O, no asyncio, no wall clock unless one is injected. The same
command sequence (with the same timestamps) always produces the same events, so a book can be
rebuilt by replaying its commands, and tests compare event lists exactly.

Data structures, chosen for CPython speed:
- per side, a dict price -> _Level, each level an intrusive doubly linked list of _Order
  (O(1) append, O(1) unlink on cancel, FIFO within the price);
- per side, a sorted list of price keys with the best price at the *end* (bids keyed by
  price, asks by -price), so the best level is ``keys[-1]`` and removing it is ``pop()``;
  new or emptied levels away from the top cost one bisect and a small memmove;
- order id -> _Order dict for cancel and amend.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterator

from app.matching.types import (
    ALPHA,
    Amend,
    BookLevelChanged,
    Cancel,
    CancelReason,
    Command,
    Depth,
    DepthLevel,
    EngineSnapshot,
    Event,
    OpenOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    PlaceLimit,
    PlaceMarket,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
)

# Module constants: identity checks against these are cheaper than enum attribute lookups.
BUY = Side.BUY
SELL = Side.SELL
GTC = TimeInForce.GTC
IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
CANCEL_NEWEST = StpMode.CANCEL_NEWEST
CANCEL_OLDEST = StpMode.CANCEL_OLDEST
CANCEL_BOTH = StpMode.CANCEL_BOTH


class _Order:
    __slots__ = (
        "level",
        "next",
        "order_id",
        "owner",
        "post_only",
        "prev",
        "price",
        "qty",
        "remaining",
        "side",
        "stp",
        "ts",
    )

    def __init__(
        self,
        order_id: int,
        owner: int,
        side: Side,
        price: int,
        qty: int,
        remaining: int,
        post_only: bool,
        stp: StpMode,
        ts: int,
    ) -> None:
        self.order_id = order_id
        self.owner = owner
        self.side = side
        self.price = price
        self.qty = qty
        self.remaining = remaining
        self.post_only = post_only
        self.stp = stp
        self.ts = ts
        self.prev: _Order | None = None
        self.next: _Order | None = None
        self.level: _Level | None = None


class _Level:
    __slots__ = ("count", "head", "price", "tail", "total")

    def __init__(self, price: int) -> None:
        self.price = price
        self.total = 0  # sum of the remaining quantities
        self.count = 0
        self.head: _Order | None = None
        self.tail: _Order | None = None


class _CountingClock:
    """The default clock: 1, 2, 3, ... Deterministic; production injects time.time_ns."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        self.now += 1
        return self.now


class MatchingEngine:
    """The order book of one market and the rules that match against it.

    Feed it commands with :meth:`process`; each call returns the events it caused, in order.
    The engine does not check balances (the order service does, see ``fees.py`` and
    :meth:`quote_to_buy`); it checks only the market's tick and lot and that order ids of open
    orders are unique (the service assigns ids; the engine forgets an id once its order ends).

    Choose ``tick * lot >= 10**9`` for a market so that every fill's floored quote is at least
    one rao (otherwise a tiny fill could trade alpha for nothing); the engine does not enforce it.
    """

    __slots__ = (
        "_ask_keys",
        "_asks",
        "_bid_keys",
        "_bids",
        "_clock",
        "_handlers",
        "_next_level_seq",
        "_next_match_id",
        "_orders",
        "_touched",
        "_track_levels",
        "lot",
        "tick",
    )

    def __init__(
        self,
        tick: int,
        lot: int,
        clock: Callable[[], int] | None = None,
        track_levels: bool = False,
    ) -> None:
        if tick <= 0 or lot <= 0:
            raise ValueError("tick and lot must be positive")
        self.tick = tick
        self.lot = lot
        self._clock: Callable[[], int] = clock if clock is not None else _CountingClock()
        self._track_levels = track_levels
        self._bids: dict[int, _Level] = {}
        self._asks: dict[int, _Level] = {}
        self._bid_keys: list[int] = []  # prices ascending: best bid last
        self._ask_keys: list[int] = []  # -prices ascending: best (lowest) ask last
        self._orders: dict[int, _Order] = {}
        self._next_match_id = 1
        self._next_level_seq = 1
        self._touched: dict[tuple[Side, int], None] = {}
        self._handlers: dict[type, Callable[[object], list[Event]]] = {
            PlaceLimit: self._place_limit,  # type: ignore[dict-item]
            PlaceMarket: self._place_market,  # type: ignore[dict-item]
            Cancel: self._cancel,  # type: ignore[dict-item]
            Amend: self._amend,  # type: ignore[dict-item]
        }

    # ------------------------------------------------------------ commands

    def process(self, command: Command) -> list[Event]:
        """Apply one command and return its events.

        A command without a timestamp is stamped from the clock, in place (``command.ts`` is
        set), so that logging the command after processing records everything a replay needs.
        """
        if command.ts is None:
            command.ts = self._clock()
        events = self._handlers[type(command)](command)
        if self._track_levels and self._touched:
            self._emit_level_changes(events)
        return events

    def process_all(self, commands: list[Command]) -> list[Event]:
        """Apply commands in order; the concatenated events (for replays and tests)."""
        out: list[Event] = []
        process = self.process
        for command in commands:
            out.extend(process(command))
        return out

    def _place_limit(self, cmd: PlaceLimit) -> list[Event]:
        ts: int = cmd.ts  # type: ignore[assignment]  # stamped by process()
        order_id = cmd.order_id
        price = cmd.price
        qty = cmd.qty
        if order_id in self._orders:
            return [OrderRejected(order_id, cmd.owner, RejectReason.DUPLICATE_ORDER_ID, ts)]
        if price <= 0 or price % self.tick:
            return [OrderRejected(order_id, cmd.owner, RejectReason.INVALID_PRICE, ts)]
        if qty <= 0 or qty % self.lot:
            return [OrderRejected(order_id, cmd.owner, RejectReason.INVALID_QUANTITY, ts)]
        side = cmd.side
        events: list[Event] = [OrderAccepted(order_id, cmd.owner, side, price, qty, None, ts)]
        if cmd.tif is GTC:
            # Fast path, the common case: a passive order goes straight onto the book.
            if side is BUY:
                keys = self._ask_keys
                passive = not keys or -keys[-1] > price
            else:
                keys = self._bid_keys
                passive = not keys or keys[-1] < price
            if passive:
                self._rest(order_id, cmd.owner, side, price, qty, qty, cmd.post_only, cmd.stp, ts)
                return events
        self._run_limit(
            order_id, cmd.owner, side, price, qty, qty, cmd.tif, cmd.post_only, cmd.stp, ts,
            events,
        )  # fmt: skip
        return events

    def _run_limit(
        self,
        order_id: int,
        owner: int,
        side: Side,
        price: int,
        qty: int,
        remaining: int,
        tif: TimeInForce,
        post_only: bool,
        stp: StpMode,
        ts: int,
        events: list[Event],
    ) -> None:
        """Match an accepted limit order (new, or re-priced by an amend), then rest or cancel
        what is left according to its time in force."""
        if side is BUY:
            crosses = bool(self._ask_keys) and -self._ask_keys[-1] <= price
        else:
            crosses = bool(self._bid_keys) and self._bid_keys[-1] >= price
        if crosses:
            if post_only:
                events.append(
                    OrderCancelled(
                        order_id, owner, CancelReason.POST_ONLY_WOULD_TAKE, remaining, ts
                    )
                )
                return
            if tif is FOK and not self._can_fill(side, owner, price, remaining, stp):
                events.append(
                    OrderCancelled(order_id, owner, CancelReason.FOK_UNFILLED, remaining, ts)
                )
                return
            remaining, _, stopped_by_stp = self._take(
                order_id, owner, side, price, remaining, -1, stp, ts, events
            )
            if stopped_by_stp:
                events.append(OrderCancelled(order_id, owner, CancelReason.STP, remaining, ts))
                return
            if not remaining:
                return
        if tif is GTC:
            self._rest(order_id, owner, side, price, qty, remaining, post_only, stp, ts)
        elif tif is IOC:
            events.append(
                OrderCancelled(order_id, owner, CancelReason.IOC_REMAINDER, remaining, ts)
            )
        else:
            events.append(OrderCancelled(order_id, owner, CancelReason.FOK_UNFILLED, remaining, ts))

    def _place_market(self, cmd: PlaceMarket) -> list[Event]:
        ts: int = cmd.ts  # type: ignore[assignment]
        order_id = cmd.order_id
        owner = cmd.owner
        qty = cmd.qty
        budget = cmd.quote_budget
        if order_id in self._orders:
            return [OrderRejected(order_id, owner, RejectReason.DUPLICATE_ORDER_ID, ts)]
        if (qty is None) == (budget is None):
            return [OrderRejected(order_id, owner, RejectReason.UNSUPPORTED, ts)]
        if budget is not None:
            if cmd.side is not BUY:
                return [OrderRejected(order_id, owner, RejectReason.UNSUPPORTED, ts)]
            if budget <= 0:
                return [OrderRejected(order_id, owner, RejectReason.INVALID_QUOTE_BUDGET, ts)]
        elif qty is not None and (qty <= 0 or qty % self.lot):
            return [OrderRejected(order_id, owner, RejectReason.INVALID_QUANTITY, ts)]
        events: list[Event] = [OrderAccepted(order_id, owner, cmd.side, None, qty, budget, ts)]
        remaining, _, stopped_by_stp = self._take(
            order_id, owner, cmd.side, None, -1 if qty is None else qty,
            -1 if budget is None else budget, cmd.stp, ts, events,
        )  # fmt: skip
        if budget is None:
            if stopped_by_stp:
                events.append(OrderCancelled(order_id, owner, CancelReason.STP, remaining, ts))
            elif remaining:
                events.append(
                    OrderCancelled(order_id, owner, CancelReason.MARKET_NO_LIQUIDITY, remaining, ts)
                )
        else:
            # A quote-budget order always ends with one cancel that closes it; the reason says
            # why it stopped.
            if stopped_by_stp:
                reason = CancelReason.STP
            elif self._ask_keys:  # with no price limit, only the budget stops it early
                reason = CancelReason.BUDGET_EXHAUSTED
            else:
                reason = CancelReason.MARKET_NO_LIQUIDITY
            events.append(OrderCancelled(order_id, owner, reason, 0, ts))
        return events

    def _cancel(self, cmd: Cancel) -> list[Event]:
        ts: int = cmd.ts  # type: ignore[assignment]
        order = self._orders.get(cmd.order_id)
        if order is None:
            return [OrderRejected(cmd.order_id, None, RejectReason.UNKNOWN_ORDER, ts)]
        self._remove(order)
        return [OrderCancelled(order.order_id, order.owner, CancelReason.USER, order.remaining, ts)]

    def _amend(self, cmd: Amend) -> list[Event]:
        ts: int = cmd.ts  # type: ignore[assignment]
        order = self._orders.get(cmd.order_id)
        if order is None:
            return [OrderRejected(cmd.order_id, None, RejectReason.UNKNOWN_ORDER, ts)]
        new_qty = order.qty if cmd.qty is None else cmd.qty
        new_price = order.price if cmd.price is None else cmd.price
        # Only what changes must be on today's tick and lot (a market's tick or lot may
        # have changed while the order rested: it can still be reduced or re-priced).
        if new_qty <= 0 or (new_qty != order.qty and new_qty % self.lot):
            return [OrderRejected(order.order_id, order.owner, RejectReason.INVALID_QUANTITY, ts)]
        if new_price <= 0 or (new_price != order.price and new_price % self.tick):
            return [OrderRejected(order.order_id, order.owner, RejectReason.INVALID_PRICE, ts)]
        filled = order.qty - order.remaining
        new_remaining = new_qty - filled
        if new_remaining <= 0:
            self._remove(order)
            return [
                OrderCancelled(
                    order.order_id, order.owner, CancelReason.AMENDED_TO_ZERO, order.remaining, ts
                )
            ]
        old_price = order.price
        old_qty = order.qty
        if new_price == old_price and new_remaining <= order.remaining:
            # Reducing in place keeps time priority.
            level = order.level
            assert level is not None
            level.total -= order.remaining - new_remaining
            order.remaining = new_remaining
            order.qty = new_qty
            if self._track_levels:
                self._touched[(order.side, old_price)] = None
            return [
                OrderAmended(
                    order.order_id, order.owner, old_price, new_price, old_qty, new_qty,
                    new_remaining, True, ts,
                )
            ]  # fmt: skip
        # Larger or re-priced: a new order under the same id, at the back of the queue.
        self._remove(order)
        events: list[Event] = [
            OrderAmended(
                order.order_id, order.owner, old_price, new_price, old_qty, new_qty,
                new_remaining, False, ts,
            )
        ]  # fmt: skip
        self._run_limit(
            order.order_id, order.owner, order.side, new_price, new_qty, new_remaining, GTC,
            order.post_only, order.stp, ts, events,
        )  # fmt: skip
        return events

    # ------------------------------------------------------------ matching

    def _take(
        self,
        order_id: int,
        owner: int,
        side: Side,
        limit: int | None,
        remaining: int,
        budget: int,
        stp: StpMode,
        ts: int,
        events: list[Event],
    ) -> tuple[int, int, bool]:
        """Match an incoming order against the opposite side.

        ``limit`` None means no price limit (market). ``remaining`` is the base quantity to
        fill, or -1 when the order is limited by ``budget`` rao instead (then ``budget`` is
        spent on whole lots). Returns (remaining base, budget left, stopped by self-trade
        prevention).
        """
        if side is BUY:
            levels = self._asks
            keys = self._ask_keys
            maker_side = SELL
        else:
            levels = self._bids
            keys = self._bid_keys
            maker_side = BUY
        orders = self._orders
        track = self._track_levels
        touched = self._touched
        lot = self.lot
        by_budget = remaining < 0
        match_id = self._next_match_id
        stopped_by_stp = False
        try:
            while keys:
                price = keys[-1]
                if side is BUY:
                    price = -price
                    if limit is not None and price > limit:
                        break
                elif limit is not None and price < limit:
                    break
                level = levels[price]
                if track:
                    touched[(maker_side, price)] = None
                maker = level.head
                while maker is not None:
                    if maker.owner == owner:
                        if stp is CANCEL_NEWEST:
                            stopped_by_stp = True
                            break
                        self._unlink(maker, level)
                        del orders[maker.order_id]
                        events.append(
                            OrderCancelled(
                                maker.order_id, maker.owner, CancelReason.STP, maker.remaining, ts
                            )
                        )
                        if stp is CANCEL_BOTH:
                            stopped_by_stp = True
                            break
                        maker = level.head
                        continue
                    maker_remaining = maker.remaining
                    if by_budget:
                        # Largest lot multiple whose floor(price * qty / ALPHA) fits the budget.
                        affordable = ((budget + 1) * ALPHA - 1) // price
                        affordable -= affordable % lot
                        if not affordable:
                            return remaining if remaining > 0 else 0, budget, False
                        fill = maker_remaining if maker_remaining < affordable else affordable
                    else:
                        fill = maker_remaining if maker_remaining < remaining else remaining
                    quote = price * fill // ALPHA
                    maker_remaining -= fill
                    maker.remaining = maker_remaining
                    level.total -= fill
                    if by_budget:
                        budget -= quote
                    else:
                        remaining -= fill
                    events.append(
                        OrderFilled(
                            match_id, maker.order_id, order_id, maker.owner, owner, side, price,
                            fill, quote, maker_remaining, remaining if remaining > 0 else 0, ts,
                        )
                    )  # fmt: skip
                    match_id += 1
                    if maker_remaining:
                        # The taker is done (quantity or budget); the maker rests on.
                        return remaining if remaining > 0 else 0, budget, False
                    # The maker is complete: it is the head, pop it.
                    del orders[maker.order_id]
                    nxt = maker.next
                    maker.level = None
                    level.head = nxt
                    level.count -= 1
                    if nxt is None:
                        level.tail = None
                    else:
                        nxt.prev = None
                        maker.next = None
                    if not remaining:
                        if nxt is None:
                            del levels[price]
                            keys.pop()
                        return 0, budget, False
                    maker = nxt
                if level.head is None:
                    del levels[price]
                    keys.pop()
                if stopped_by_stp:
                    break
            return remaining if remaining > 0 else 0, budget, stopped_by_stp
        finally:
            self._next_match_id = match_id

    def _can_fill(self, side: Side, owner: int, limit: int, qty: int, stp: StpMode) -> bool:
        """Whether an order could fill ``qty`` completely right now (for FOK): counts resting
        quantity within the limit in priority order. Own orders are skipped under
        cancel-oldest (they would be cancelled) and end the walk otherwise (matching would
        stop there)."""
        if side is BUY:
            levels, keys, sign = self._asks, self._ask_keys, -1
        else:
            levels, keys, sign = self._bids, self._bid_keys, 1
        available = 0
        for key in reversed(keys):
            price = key * sign
            if (side is BUY and price > limit) or (side is SELL and price < limit):
                return False
            order = levels[price].head
            while order is not None:
                if order.owner == owner:
                    if stp is not CANCEL_OLDEST:
                        return False
                else:
                    available += order.remaining
                    if available >= qty:
                        return True
                order = order.next
        return False

    # ------------------------------------------------------------ book maintenance

    def _rest(
        self,
        order_id: int,
        owner: int,
        side: Side,
        price: int,
        qty: int,
        remaining: int,
        post_only: bool,
        stp: StpMode,
        ts: int,
    ) -> None:
        order = _Order(order_id, owner, side, price, qty, remaining, post_only, stp, ts)
        if side is BUY:
            levels = self._bids
            key = price
            keys = self._bid_keys
        else:
            levels = self._asks
            key = -price
            keys = self._ask_keys
        level = levels.get(price)
        if level is None:
            level = levels[price] = _Level(price)
            if not keys or key > keys[-1]:
                keys.append(key)  # a new best price: the common case near the spread
            else:
                insort(keys, key)
        tail = level.tail
        order.level = level
        if tail is None:
            level.head = order
        else:
            tail.next = order
            order.prev = tail
        level.tail = order
        level.total += remaining
        level.count += 1
        self._orders[order_id] = order
        if self._track_levels:
            self._touched[(side, price)] = None

    def _remove(self, order: _Order) -> None:
        """Take a resting order out of the book (cancel, amend)."""
        level = order.level
        assert level is not None
        self._unlink(order, level)
        del self._orders[order.order_id]
        if self._track_levels:
            self._touched[(order.side, order.price)] = None
        if level.head is None:
            price = order.price
            if order.side is BUY:
                del self._bids[price]
                keys = self._bid_keys
                key = price
            else:
                del self._asks[price]
                keys = self._ask_keys
                key = -price
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]

    @staticmethod
    def _unlink(order: _Order, level: _Level) -> None:
        """Unlink an order from its level's queue; the caller drops an emptied level."""
        prev = order.prev
        nxt = order.next
        if prev is None:
            level.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            level.tail = prev
        else:
            nxt.prev = prev
        order.prev = order.next = None
        order.level = None
        level.total -= order.remaining
        level.count -= 1

    def _emit_level_changes(self, events: list[Event]) -> None:
        seq = self._next_level_seq
        for side, price in self._touched:
            level = (self._bids if side is BUY else self._asks).get(price)
            events.append(BookLevelChanged(seq, side, price, 0 if level is None else level.total))
            seq += 1
        self._next_level_seq = seq
        self._touched.clear()

    # ------------------------------------------------------------ queries

    def best_bid(self) -> int | None:
        return self._bid_keys[-1] if self._bid_keys else None

    def best_ask(self) -> int | None:
        return -self._ask_keys[-1] if self._ask_keys else None

    def depth(self, n: int | None = None) -> Depth:
        """L2 snapshot: the ``n`` best levels per side (all when None), aggregated."""
        bid_keys = self._bid_keys[::-1] if n is None else self._bid_keys[: -n - 1 : -1]
        ask_keys = self._ask_keys[::-1] if n is None else self._ask_keys[: -n - 1 : -1]
        bids = [self._bids[key] for key in bid_keys]
        asks = [self._asks[-key] for key in ask_keys]
        return Depth(
            [DepthLevel(lv.price, lv.total, lv.count) for lv in bids],
            [DepthLevel(lv.price, lv.total, lv.count) for lv in asks],
        )

    def open_orders(self) -> Iterator[OpenOrder]:
        """Resting orders: bids best level first, then asks best level first, each level in
        time priority."""
        for levels, keys, sign in (
            (self._bids, self._bid_keys, 1),
            (self._asks, self._ask_keys, -1),
        ):
            for key in reversed(keys):
                order = levels[key * sign].head
                while order is not None:
                    yield _view(order)
                    order = order.next

    def resting(self, side: Side) -> Iterator[OpenOrder]:
        """One side's resting orders, best level first, each level in time priority."""
        levels, keys, sign = (
            (self._bids, self._bid_keys, 1) if side is BUY else (self._asks, self._ask_keys, -1)
        )
        for key in reversed(keys):
            order = levels[key * sign].head
            while order is not None:
                yield _view(order)
                order = order.next

    def get_order(self, order_id: int) -> OpenOrder | None:
        order = self._orders.get(order_id)
        return None if order is None else _view(order)

    def is_open(self, order_id: int) -> bool:
        return order_id in self._orders

    def __len__(self) -> int:
        return len(self._orders)

    def quote_to_buy(self, qty: int) -> int | None:
        """The quote a market buy of ``qty`` base units would pay against the book as it is
        (sum of the per-fill floor amounts, ignoring self-trade prevention, which can only
        lower it); None if the asks do not hold that much. For sizing a market buy's hold."""
        total = 0
        for key in reversed(self._ask_keys):
            level = self._asks[-key]
            order = level.head
            while order is not None:
                fill = order.remaining if order.remaining < qty else qty
                total += level.price * fill // ALPHA
                qty -= fill
                if not qty:
                    return total
                order = order.next
        return None

    # ------------------------------------------------------------ snapshot / restore

    def snapshot(self) -> EngineSnapshot:
        return EngineSnapshot(
            self.tick, self.lot, list(self.open_orders()), self._next_match_id,
            self._next_level_seq,
        )  # fmt: skip

    @classmethod
    def restore(
        cls,
        snapshot: EngineSnapshot,
        clock: Callable[[], int] | None = None,
        track_levels: bool = False,
    ) -> MatchingEngine:
        """An engine identical to the one the snapshot was taken from (orders keep their
        priority: the snapshot lists them in priority order)."""
        engine = cls(snapshot.tick, snapshot.lot, clock=clock, track_levels=False)
        for o in snapshot.orders:
            engine._rest(
                o.order_id, o.owner, o.side, o.price, o.qty, o.remaining, o.post_only, o.stp,
                o.ts,
            )  # fmt: skip
        engine._next_match_id = snapshot.next_match_id
        engine._next_level_seq = snapshot.next_level_seq
        engine._track_levels = track_levels
        return engine


def _view(order: _Order) -> OpenOrder:
    return OpenOrder(
        order.order_id, order.owner, order.side, order.price, order.qty, order.remaining,
        order.post_only, order.stp, order.ts,
    )  # fmt: skip


OrderBook = MatchingEngine
