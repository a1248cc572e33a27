"""Property tests: random command flows across several owners.

Prices sit on a narrow band of ticks so that orders cross often; quantities are a few lots so
that partial fills are common.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.matching import (
    ALPHA,
    Amend,
    BookLevelChanged,
    Cancel,
    Command,
    Event,
    MatchingEngine,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderFilled,
    PlaceLimit,
    PlaceMarket,
    Side,
    StpMode,
    TimeInForce,
)
from tests.matching.reference import ReferenceBook

TICK = 1_000_000  # 0.001 TAO per alpha
LOT = 1_000
BASE_PRICE = 1_000 * TICK  # 1 TAO per alpha

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def random_flow(rng: random.Random, length: int, amends: bool = True) -> list[Command]:
    """A command flow: 55% limit orders, 15% market orders, 20% cancels, 10% amends, by four
    owners on eleven price ticks, cancels and amends mostly aimed at issued ids."""
    commands: list[Command] = []
    next_id = 1
    for ts in range(1, length + 1):
        roll = rng.random()
        owner = rng.randrange(4)
        side = rng.choice((Side.BUY, Side.SELL))
        stp = rng.choice(list(StpMode))
        if roll < 0.55:
            price = BASE_PRICE + rng.randint(-5, 5) * TICK
            tif = rng.choice((TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK))
            post_only = rng.random() < 0.15
            qty = rng.randint(1, 8) * LOT
            commands.append(PlaceLimit(next_id, owner, side, price, qty, tif, post_only, stp, ts))
            next_id += 1
        elif roll < 0.70:
            lots = rng.randint(1, 12)
            if rng.random() < 0.4:
                budget = lots * LOT * BASE_PRICE // ALPHA + rng.randint(0, 9)
                commands.append(
                    PlaceMarket(next_id, owner, Side.BUY, quote_budget=budget, stp=stp, ts=ts)
                )
            else:
                commands.append(PlaceMarket(next_id, owner, side, qty=lots * LOT, stp=stp, ts=ts))
            next_id += 1
        elif roll < 0.90 or not amends:
            commands.append(Cancel(rng.randint(1, next_id), ts))
        else:
            qty = rng.randint(1, 8) * LOT if rng.random() < 0.7 else None
            price = BASE_PRICE + rng.randint(-5, 5) * TICK if rng.random() < 0.4 else None
            commands.append(Amend(rng.randint(1, next_id), qty, price, ts))
    return commands


# Hypothesis draws the seed and the length; the flow itself comes from a seeded generator,
# which gives long, dense flows (shrinking then works on the length and the seed).
flow_args = st.tuples(st.integers(0, 2**32), st.integers(1, 200))


def book_state(engine: MatchingEngine) -> list[tuple[int, int, Side, int, int]]:
    return [(o.order_id, o.owner, o.side, o.price, o.remaining) for o in engine.open_orders()]


@SETTINGS
@given(flow_args)
def test_invariants(args: tuple[int, int]) -> None:
    commands = random_flow(random.Random(args[0]), args[1])
    engine = MatchingEngine(TICK, LOT, track_levels=True)
    submitted: dict[int, int] = {}  # order id -> total quantity (base orders only)
    filled: dict[int, int] = {}
    cancelled: dict[int, int] = {}
    limit_of: dict[int, int | None] = {}
    price_of: dict[int, int] = {}  # resting price of each order id, for the maker check
    budget_of: dict[int, int] = {}
    spent: dict[int, int] = {}
    levels: dict[tuple[Side, int], int] = {}  # the book rebuilt from level deltas
    last_seq = 0
    for cmd in commands:
        for event in engine.process(cmd):
            if isinstance(event, OrderAccepted):
                limit_of[event.order_id] = event.price
                if event.price is not None:
                    price_of[event.order_id] = event.price
                if event.qty is not None:
                    submitted[event.order_id] = event.qty
                else:
                    assert event.quote_budget is not None
                    budget_of[event.order_id] = event.quote_budget
                filled[event.order_id] = cancelled[event.order_id] = 0
            elif isinstance(event, OrderAmended):
                submitted[event.order_id] += event.new_qty - event.old_qty
                price_of[event.order_id] = limit_of[event.order_id] = event.new_price
            elif isinstance(event, OrderFilled):
                assert event.quote == event.price * event.qty // ALPHA
                assert event.qty > 0 and event.qty % LOT == 0
                assert event.price == price_of[event.maker_order_id]  # the maker's price
                limit = limit_of[event.taker_order_id]
                if limit is not None:
                    assert (
                        event.price <= limit
                        if event.taker_side is Side.BUY
                        else event.price >= limit
                    )
                assert event.maker_owner != event.taker_owner
                filled[event.maker_order_id] += event.qty
                filled[event.taker_order_id] += event.qty
                if event.taker_order_id in budget_of:
                    spent[event.taker_order_id] = spent.get(event.taker_order_id, 0) + event.quote
            elif isinstance(event, OrderCancelled):
                cancelled[event.order_id] += event.cancelled_qty
            elif isinstance(event, BookLevelChanged):
                assert event.seq == last_seq + 1
                last_seq = event.seq
                levels[(event.side, event.price)] = event.total_qty
        bid, ask = engine.best_bid(), engine.best_ask()
        assert bid is None or ask is None or bid < ask, "crossed book"
        depth = engine.depth()
        from_orders: dict[tuple[Side, int], int] = {}
        for o in engine.open_orders():
            from_orders[(o.side, o.price)] = from_orders.get((o.side, o.price), 0) + o.remaining
        from_deltas = {key: qty for key, qty in levels.items() if qty}
        assert from_deltas == from_orders
        assert from_deltas == {(Side.BUY, lv.price): lv.qty for lv in depth.bids} | {
            (Side.SELL, lv.price): lv.qty for lv in depth.asks
        }
    open_qty = {o.order_id: o.remaining for o in engine.open_orders()}
    for order_id, qty in submitted.items():
        assert filled[order_id] + open_qty.get(order_id, 0) + cancelled[order_id] == qty
    for order_id, budget in budget_of.items():
        assert spent.get(order_id, 0) <= budget


def _replay(commands: list[Command]) -> tuple[list[Event], MatchingEngine]:
    engine = MatchingEngine(TICK, LOT, track_levels=True)
    return engine.process_all(commands), engine


@SETTINGS
@given(flow_args, st.integers(0, 200))
def test_replay_and_restore_are_identical(args: tuple[int, int], cut: int) -> None:
    def build() -> list[Command]:
        return random_flow(random.Random(args[0]), args[1])

    events, engine = _replay(build())
    again, twin = _replay(build())
    assert again == events
    assert twin.snapshot() == engine.snapshot()
    # Snapshot part way, restore, and run the rest: same events and book as straight through.
    commands = build()
    head, tail = commands[:cut], commands[cut:]
    first = MatchingEngine(TICK, LOT, track_levels=True)
    out = first.process_all(head)
    restored = MatchingEngine.restore(first.snapshot(), track_levels=True)
    out += restored.process_all(tail)
    assert out == events
    assert restored.snapshot() == engine.snapshot()


@SETTINGS
@given(flow_args)
def test_matches_reference(args: tuple[int, int]) -> None:
    commands = random_flow(random.Random(args[0]), args[1], amends=False)
    engine = MatchingEngine(TICK, LOT)
    reference = ReferenceBook(TICK, LOT)
    for cmd in commands:
        assert engine.process(cmd) == reference.process(cmd)
        assert book_state(engine) == reference.book()
