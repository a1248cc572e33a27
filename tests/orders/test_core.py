"""The order core's invariants, with Hypothesis and no Postgres: a refusal changes nothing;
every rao and alpha-rao is conserved; no balance goes negative; no hold is exceeded, and an
ended order's hold is used to the last unit; the core's view of the locked balances is the
ledger's."""

import copy
import dataclasses
import itertools
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.kit.errors import AppError
from app.kit.units import quote_amount
from app.ledger.settlement import FeeSchedule
from app.orders.commands import AmendOrder, CancelOrders, LiveOrder, OrderRequest, PlaceOrders
from app.orders.core import QUOTE, Funds, MarketRules, Markets, OrderCore, Outcome
from app.orders.core import _crossed as crossed

TICK, LOT, MID = 1_000, 1_000_000, 50_000_000
USERS = (1, 2, 3)


MIN_SIZE = 2 * LOT
MIN_NOTIONAL = quote_amount(MID, 3 * LOT)  # three lots at the pool price
BAND_BPS = 500  # 5%: MID +- 2500 ticks


def market(maker_bps: int, taker_bps: int, state: str = "trading") -> MarketRules:
    return MarketRules(
        id=1,
        symbol="SN1/TAO",
        base="SN1",
        state=state,
        tick=TICK,
        lot=LOT,
        min_size=MIN_SIZE,
        min_notional=MIN_NOTIONAL,
        fees=FeeSchedule(maker_bps, taker_bps),
        band_bps=BAND_BPS,
        reference_price=MID,
    )


def needed(o: LiveOrder, m: MarketRules) -> int:
    """What an open order must still hold for its remaining quantity."""
    assert o.price is not None and o.qty is not None
    if o.side == "sell":
        return o.qty - o.filled_qty
    return m.fees.with_fee(quote_amount(o.price, o.qty - o.filled_qty))


def allowed(o: LiveOrder, m: MarketRules) -> bool:
    """Would the market's rules accept this open order as it stands (price, total qty)?"""
    assert o.price is not None and o.qty is not None
    return (
        o.price % m.tick == 0
        and o.qty % m.lot == 0
        and o.qty >= m.min_size
        and quote_amount(o.price, o.qty) >= m.min_notional
        and abs(o.price - m.reference_price) * 10_000 <= m.band_bps * m.reference_price
    )


class Ledger:
    """A model ledger: balances by (user, asset, kind), holds, what the core's legs do."""

    def __init__(self, funds: Funds) -> None:
        self.balances: dict[Any, int] = defaultdict(int)
        for (user, asset), amount in funds.items():
            self.balances[(user, asset, "available")] = amount
            self.balances[(None, asset, "custody")] -= amount
        self.holds: dict[str, list[int]] = {}  # id -> [amount, used]
        self.resolved: dict[str, str] = {}

    def apply(self, out: Outcome) -> None:
        for h in out.holds:
            assert h.id not in self.holds
            self.holds[h.id] = [h.amount, 0]
            self._move((h.user_id, h.asset, "available"), (h.user_id, h.asset, "held"), h.amount)
        for t in out.top_ups:
            assert t.hold_id in self.holds and t.hold_id not in self.resolved
            self.holds[t.hold_id][0] += t.amount
            self._move((t.user_id, t.asset, "available"), (t.user_id, t.asset, "held"), t.amount)
        for leg in out.legs:
            assert leg.amount > 0
            if leg.hold_id is not None:
                hold = self.holds[leg.hold_id]
                assert leg.hold_id not in self.resolved
                hold[1] += leg.amount
                assert hold[1] <= hold[0], f"hold {leg.hold_id} exceeded"
            self._move(leg.debit, leg.credit, leg.amount)
        for hold_id, state in out.resolve.items():
            amount, used = self.holds[hold_id]
            assert used == amount, f"{hold_id} resolved with {amount - used} left"
            assert state in ("posted", "voided")
            self.resolved[hold_id] = state
        # The group is written in one batch: balances are checked once it is applied.
        for ref, amount in self.balances.items():
            if ref[0] is not None:
                assert amount >= 0, f"{ref} went negative"

    def _move(self, debit: Any, credit: Any, amount: int) -> None:
        self.balances[debit] -= amount
        self.balances[credit] += amount

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for (_, asset, _kind), amount in self.balances.items():
            out[asset] += amount
        return dict(out)


def state_of(core: OrderCore, funds: Funds) -> Any:
    return (
        {k: (b.depth(None), list(b.open_orders())) for k, b in core.books.items()},
        copy.deepcopy(core.orders),
        copy.deepcopy(core.stops),
        dict(core.last_price),
        dict(core.client_ids),
        core.last_id,
        dict(funds),
    )


side = st.sampled_from(["buy", "sell"])
ticks = st.integers(-8, 8)
lots = st.integers(1, 40)
user = st.sampled_from(USERS)
limit = st.builds(
    lambda s, t, n, tif, po, cid: OrderRequest(
        "SN1/TAO", s, "limit", MID + t * TICK, n * LOT, time_in_force=tif, post_only=po,
        client_order_id=cid,
    ),
    side, ticks, lots, st.sampled_from(["gtc", "gtc", "gtc", "ioc", "fok"]),
    st.sampled_from([False, False, False, True]), st.sampled_from([None, None, None, "a", "b"]),
)  # fmt: skip
by_qty = st.builds(lambda s, n: OrderRequest("SN1/TAO", s, "market", qty=n * LOT), side, lots)
trailing = st.builds(
    lambda s, off, n: OrderRequest(
        "SN1/TAO", s, "market", qty=n * LOT, trigger="trailing_stop", trail_offset=off * TICK
    ),
    side, st.integers(0, 6), lots,
)  # fmt: skip
stop = st.builds(
    lambda s, kind, trig, limit_at, n: OrderRequest(
        "SN1/TAO", s, "limit" if limit_at is not None else "market",
        None if limit_at is None else MID + limit_at * TICK, n * LOT,
        trigger=kind, trigger_price=MID + trig * TICK,
    ),
    side, st.sampled_from(["stop_loss", "take_profit"]), ticks, st.one_of(st.none(), ticks), lots,
)  # fmt: skip
by_budget = st.builds(
    lambda b: OrderRequest("SN1/TAO", "buy", "market", quote_budget=b), st.integers(1, 5 * 10**9)
)
invalid = st.sampled_from(
    [
        OrderRequest("SN9/TAO", "buy", "limit", MID, LOT),  # unknown market
        OrderRequest("SN1/TAO", "buy", "limit", MID + 1, LOT),  # off the tick
        OrderRequest("SN1/TAO", "sell", "market", quote_budget=10),  # a sell by budget
    ]
)
# Mostly valid orders, so that books fill up and trade; a few bad ones.
request = st.integers(0, 11).flatmap(
    lambda k: (
        limit
        if k < 7
        else by_qty
        if k == 7
        else by_budget
        if k == 8
        else stop
        if k < 11
        else invalid
    )
)
place = st.builds(lambda u, rs: ("place", u, rs), user, st.lists(request, min_size=1, max_size=3))
other = st.one_of(
    st.builds(lambda u, k: ("cancel", u, k), user, st.integers(0, 60)),
    st.builds(lambda u: ("cancel_all", u), user),
    st.builds(
        lambda u, k, p, n: ("amend", u, k, p, n),
        user,
        st.integers(0, 60),
        st.one_of(
            st.none(),
            ticks.map(lambda t: MID + t * TICK),
            st.sampled_from([MID + 1, 3 * MID, MID // 2, MID - 2 * TICK + 7]),
        ),
        st.one_of(st.none(), st.integers(0, 40).map(lambda n: n * LOT), st.just(LOT // 2)),
    ),
)
command = st.integers(0, 9).flatmap(lambda k: place if k < 6 else other)
# Mostly enough to trade with; sometimes too little (refusals for funds).
balance = st.integers(0, 9).flatmap(
    lambda k: st.integers(0, 10**9) if k == 0 else st.integers(10**11, 10**14)
)


def to_command(c: tuple[Any, ...], core: OrderCore) -> Any:
    kind, uid = c[0], c[1]
    if kind == "place":
        return PlaceOrders(uid, copy.deepcopy(c[2]))
    if kind == "cancel_all":
        return CancelOrders(uid, all_orders=True)
    own = sorted(oid for oid, o in core.orders.items() if o.user_id == uid)
    target = own[c[2] % len(own)] if own else 10_000 + c[2]
    if kind == "cancel":
        return CancelOrders(uid, order_ids=[target])
    return AmendOrder(uid, target, None, c[4], c[3])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    commands=st.lists(command, min_size=1, max_size=40),
    fees=st.tuples(st.integers(0, 50), st.integers(0, 80)),
    wealth=st.lists(balance, min_size=6, max_size=6),
)
def test_the_core_conserves_money_and_refusals_change_nothing(
    commands: list[tuple[Any, ...]], fees: tuple[int, int], wealth: list[int]
) -> None:
    rules = market(*fees)
    markets = Markets([rules])
    clock = itertools.count(1)
    core = OrderCore(lambda: next(clock))
    funds: Funds = {}
    for n, uid in enumerate(USERS):
        funds[(uid, QUOTE)] = wealth[2 * n]
        funds[(uid, "SN1")] = wealth[2 * n + 1]
    ledger = Ledger(funds)
    start = ledger.totals()
    for c in commands:
        cmd = to_command(c, core)
        before = state_of(core, funds)
        out = Outcome()
        result = core.execute(cmd, markets, funds, out)
        if isinstance(result, AppError):
            assert state_of(core, funds) == before, f"refused {result.code} but changed state"
            assert out == Outcome(), f"refused {result.code} but produced {out}"
            continue
        ledger.apply(out)
        assert ledger.totals() == start  # nothing created or destroyed
        for order in core.orders.values():
            assert allowed(order, rules), f"the book holds an order the rules refuse: {order}"
            assert order.hold_left >= needed(order, rules)
        last = core.last_price.get(rules.id)
        for order in core.stops.values():  # held from placement, on no book, not crossed
            assert order.status == "untriggered"
            assert ledger.holds[order.hold_id] == [order.hold_amount, 0]
            assert last is None or not crossed(order, last, last)
        amended = core.orders.get(result.id) if isinstance(cmd, AmendOrder) else None
        if amended is not None and not out.fills:  # (self-trade prevention may end it)
            assert amended.hold_left == needed(amended, rules), "an amend holds what it needs"
        for (uid, asset), amount in funds.items():
            assert ledger.balances[(uid, asset, "available")] == amount
        # Open orders hold what they still need; ended ones are gone from the core.
        for order in core.orders.values():
            assert order.status == "open"
            assert ledger.holds[order.hold_id][1] == order.hold_used
        for order in out.touched.values():
            if order.status not in ("open", "untriggered"):
                assert order.hold_id in ledger.resolved
                assert order.id not in core.orders and order.id not in core.stops
        book = core.books.get(rules.id)
        if book is not None:
            bid, ask = book.best_bid(), book.best_ask()
            assert bid is None or ask is None or bid < ask
            assert {o.order_id for o in book.open_orders()} == set(core.orders)


@given(st.sampled_from(["halted", "delisted", "cancel_only"]), st.one_of(limit, by_qty, invalid))
def test_a_closed_market_refuses_new_orders_before_anything_happens(
    state: str, r: OrderRequest
) -> None:
    rules = market(10, 20, state)
    core = OrderCore(itertools.count(1).__next__)
    funds: Funds = {(1, QUOTE): 10**12, (1, "SN1"): 10**12}
    out = Outcome()
    result = core.execute(PlaceOrders(1, [r]), Markets([rules]), funds, out)
    assert isinstance(result, AppError)
    assert result.code in {f"market_{state}", "market_not_found"}
    assert out == Outcome() and core.orders == {} and funds[(1, QUOTE)] == 10**12


def test_a_post_only_amend_that_would_take_is_refused_and_the_order_stays() -> None:
    rules = market(10, 20)
    markets = Markets([rules])
    core = OrderCore(itertools.count(1).__next__)
    funds: Funds = {(1, QUOTE): 10**12, (2, "SN1"): 10**12}
    out = Outcome()
    bid = core.execute(
        PlaceOrders(1, [OrderRequest("SN1/TAO", "buy", "limit", MID - TICK, 4 * LOT)]), markets,
        funds, out,
    )[0]  # fmt: skip
    ask = core.execute(
        PlaceOrders(2, [OrderRequest("SN1/TAO", "sell", "limit", MID, 4 * LOT, post_only=True)]),
        markets, funds, out,
    )[0]  # fmt: skip
    refused = core.execute(AmendOrder(2, ask.id, None, None, MID - TICK), markets, funds, Outcome())
    assert isinstance(refused, AppError) and refused.code == "post_only_would_take"
    assert core.orders[ask.id].price == MID and bid.id in core.orders
    # Amending it to a price that does not cross is fine.
    amended = core.execute(AmendOrder(2, ask.id, None, None, MID + TICK), markets, funds, out)
    assert not isinstance(amended, AppError) and core.orders[ask.id].price == MID + TICK


def _core_with(funds: Funds, **changes: Any) -> tuple[OrderCore, Markets, MarketRules]:
    rules = dataclasses.replace(market(10, 20), **changes)
    return OrderCore(itertools.count(1).__next__), Markets([rules]), rules


def test_an_amend_up_holds_the_difference_and_an_amend_down_releases_at_once() -> None:
    funds: Funds = {(1, QUOTE): 10**10}
    core, markets, rules = _core_with(funds)
    out = Outcome()
    [bid] = core.execute(
        PlaceOrders(1, [OrderRequest("SN1/TAO", "buy", "limit", MID, 4 * LOT)]), markets, funds, out
    )
    first = rules.fees.with_fee(quote_amount(MID, 4 * LOT))
    assert bid.hold_amount == first and funds[(1, QUOTE)] == 10**10 - first
    # Up: more quantity and a higher price; the difference is held from available.
    out = Outcome()
    up = core.execute(AmendOrder(1, bid.id, None, 10 * LOT, MID + TICK), markets, funds, out)
    assert not isinstance(up, AppError)
    second = rules.fees.with_fee(quote_amount(MID + TICK, 10 * LOT))
    assert [t.amount for t in out.top_ups] == [second - first] and out.legs == []
    assert up.hold_left == second and funds[(1, QUOTE)] == 10**10 - second
    # Down: the excess returns to available in the same command, with one release leg.
    out = Outcome()
    down = core.execute(AmendOrder(1, bid.id, None, 5 * LOT, None), markets, funds, out)
    assert not isinstance(down, AppError)
    third = rules.fees.with_fee(quote_amount(MID + TICK, 5 * LOT))
    assert [(leg.code, leg.amount) for leg in out.legs] == [("release", second - third)]
    assert down.hold_left == third and funds[(1, QUOTE)] == 10**10 - third
    # Up beyond the available balance: refused, nothing changes.
    before = state_of(core, funds)
    refused = core.execute(
        AmendOrder(1, bid.id, None, 300_000 * LOT, None), markets, funds, Outcome()
    )
    assert isinstance(refused, AppError) and refused.code == "insufficient_funds"
    assert state_of(core, funds) == before


@given(
    st.sampled_from(
        [
            (None, LOT, "order_too_small"),  # below the minimum size
            (MID - 2400 * TICK, 2 * LOT, "notional_too_small"),  # minimum size, too little TAO
            (3 * MID, None, "price_out_of_band"),
            (MID + 1, None, "invalid_tick"),
            (None, 4 * LOT + 1, "invalid_lot"),
            (None, 0, "invalid_amend"),
        ]
    )
)
def test_an_amend_passes_the_rules_of_a_new_order(case: tuple[Any, Any, str]) -> None:
    price, qty, code = case
    funds: Funds = {(1, QUOTE): 10**12}
    core, markets, _ = _core_with(funds)
    [bid] = core.execute(
        PlaceOrders(1, [OrderRequest("SN1/TAO", "buy", "limit", MID, 4 * LOT)]), markets, funds,
        Outcome(),
    )  # fmt: skip
    before = state_of(core, funds)
    refused = core.execute(AmendOrder(1, bid.id, None, qty, price), markets, funds, Outcome())
    assert isinstance(refused, AppError) and refused.code == code
    assert state_of(core, funds) == before


def test_an_order_left_off_a_new_tick_can_still_be_reduced() -> None:
    funds: Funds = {(1, "SN1"): 10**12}
    core, markets, rules = _core_with(funds)
    [ask] = core.execute(
        PlaceOrders(1, [OrderRequest("SN1/TAO", "sell", "limit", MID + TICK, 8 * LOT)]), markets,
        funds, Outcome(),
    )  # fmt: skip
    coarser = Markets([dataclasses.replace(rules, tick=10 * TICK)])
    reduced = core.execute(AmendOrder(1, ask.id, None, 6 * LOT, None), coarser, funds, Outcome())
    assert not isinstance(reduced, AppError) and reduced.qty == 6 * LOT
    assert reduced.price == MID + TICK  # kept as it was
    moved = core.execute(
        AmendOrder(1, ask.id, None, None, MID + 3 * TICK), coarser, funds, Outcome()
    )
    assert isinstance(moved, AppError) and moved.code == "invalid_tick"


@given(
    st.sampled_from(
        [
            OrderRequest("SN1/TAO", "buy", "market", qty=4 * LOT),
            OrderRequest("SN1/TAO", "buy", "market", quote_budget=10**9),
            OrderRequest("SN1/TAO", "sell", "market", qty=4 * LOT),
        ]
    ),
    st.booleans(),
)
def test_a_market_order_on_an_empty_book_is_one_refusal_whatever_its_form(
    r: OrderRequest, own_orders_only: bool
) -> None:
    funds: Funds = {(1, QUOTE): 10**12, (1, "SN1"): 10**12}
    core, markets, _ = _core_with(funds)
    if own_orders_only:  # the user's own resting orders are no liquidity for them
        for side, price in (("buy", MID - TICK), ("sell", MID + TICK)):
            core.execute(
                PlaceOrders(1, [OrderRequest("SN1/TAO", side, "limit", price, 4 * LOT)]), markets,
                funds, Outcome(),
            )  # fmt: skip
    before = state_of(core, funds)
    refused = core.execute(PlaceOrders(1, [copy.deepcopy(r)]), markets, funds, Outcome())
    assert isinstance(refused, AppError) and refused.code == "no_liquidity"
    assert state_of(core, funds) == before


def test_a_market_order_by_quantity_must_reach_the_minimum_notional() -> None:
    funds: Funds = {(1, QUOTE): 10**12, (2, QUOTE): 10**12, (2, "SN1"): 10**12}
    core, markets, _ = _core_with(funds)
    # Resting bids low in the band: a market sell of the minimum size trades too little TAO.
    core.execute(
        PlaceOrders(1, [OrderRequest("SN1/TAO", "buy", "limit", MID - 2000 * TICK, 10 * LOT)]),
        markets, funds, Outcome(),
    )  # fmt: skip
    small = core.execute(
        PlaceOrders(2, [OrderRequest("SN1/TAO", "sell", "market", qty=2 * LOT)]), markets, funds,
        Outcome(),
    )  # fmt: skip
    assert isinstance(small, AppError) and small.code == "notional_too_small"
    enough = core.execute(
        PlaceOrders(2, [OrderRequest("SN1/TAO", "sell", "market", qty=6 * LOT)]), markets, funds,
        Outcome(),
    )  # fmt: skip
    assert not isinstance(enough, AppError) and enough[0].status == "filled"


def _place(core: OrderCore, markets: Markets, funds: Funds, user: int, r: OrderRequest) -> Any:
    out = Outcome()
    result = core.execute(PlaceOrders(user, [r]), markets, funds, out)
    assert not isinstance(result, AppError), result
    return result[0], out


def test_stops_are_held_off_the_book_and_fire_when_the_last_trade_crosses_them() -> None:
    funds: Funds = {(u, a): 10**12 for u in USERS for a in (QUOTE, "SN1")}
    core, markets, rules = _core_with(funds, min_size=LOT, min_notional=1)
    # 1 places a stop-loss sell (market) and a take-profit sell (limit), 2 a stop-loss buy.
    sl, out = _place(core, markets, funds, 1, OrderRequest(
        "SN1/TAO", "sell", "market", qty=4 * LOT, trigger="stop_loss", trigger_price=MID - TICK,
    ))  # fmt: skip
    assert sl.status == "untriggered" and [h.amount for h in out.holds] == [4 * LOT]
    assert sl.id in core.stops and sl.id not in core.orders and not core.books
    tp, _ = _place(core, markets, funds, 1, OrderRequest(
        "SN1/TAO", "sell", "limit", MID + 5 * TICK, 4 * LOT, trigger="take_profit",
        trigger_price=MID + 2 * TICK,
    ))  # fmt: skip
    slb, out = _place(core, markets, funds, 2, OrderRequest(
        "SN1/TAO", "buy", "market", qty=4 * LOT, trigger="stop_loss", trigger_price=MID + TICK,
    ))  # fmt: skip
    protection = (MID + TICK) * (BAND_BPS + 10_000) // 10_000 // TICK * TICK
    assert [h.amount for h in out.holds] == [rules.fees.with_fee(quote_amount(protection, 4 * LOT))]
    # A trade at MID crosses none of them.
    _place(core, markets, funds, 3, OrderRequest("SN1/TAO", "buy", "limit", MID, 10 * LOT))
    _, out = _place(core, markets, funds, 2, OrderRequest("SN1/TAO", "sell", "limit", MID, 2 * LOT))
    assert len(out.fills) == 1 and len(core.stops) == 3
    # A trade at MID - TICK fires the stop-loss sell, which sells into 3's bid there.
    _place(core, markets, funds, 3, OrderRequest("SN1/TAO", "buy", "limit", MID - TICK, 8 * LOT))
    seller, out = _place(core, markets, funds, 2, OrderRequest(
        "SN1/TAO", "sell", "limit", MID - TICK, 10 * LOT, time_in_force="ioc"
    ))  # fmt: skip
    assert sl.id not in core.stops and sl.status == "filled" and sl.triggered_at is not None
    assert [(f.taker.id, f.price, f.qty) for f in out.fills] == [
        (seller.id, MID, 8 * LOT),
        (seller.id, MID - TICK, 2 * LOT),
        (sl.id, MID - TICK, 4 * LOT),
    ]
    assert sl.filled_qty == 4 * LOT and out.resolve[sl.hold_id] == "posted"
    # A trade at MID + 2 ticks fires the stop-loss buy and the take-profit sell, in order.
    _place(
        core, markets, funds, 3, OrderRequest("SN1/TAO", "sell", "limit", MID + 2 * TICK, 4 * LOT)
    )
    _, out = _place(core, markets, funds, 2, OrderRequest(
        "SN1/TAO", "buy", "limit", MID + 2 * TICK, 2 * LOT, time_in_force="ioc"
    ))  # fmt: skip
    assert tp.id not in core.stops and slb.id not in core.stops
    assert tp.status == "open" and core.orders[tp.id].price == MID + 5 * TICK  # rests
    # The stop-loss buy (placed before) took 3's remaining ask, then the take-profit's ask.
    assert slb.status == "filled" and slb.filled_qty == 4 * LOT
    assert [(f.maker.id, f.taker.id) for f in out.fills][1:] == [
        (out.fills[1].maker.id, slb.id),
        (tp.id, slb.id),
    ]


def test_a_stop_already_crossed_fires_at_once_and_a_cancelled_one_releases_its_hold() -> None:
    funds: Funds = {(u, a): 10**12 for u in USERS for a in (QUOTE, "SN1")}
    core, markets, _ = _core_with(funds, min_size=LOT, min_notional=1)
    _place(core, markets, funds, 3, OrderRequest("SN1/TAO", "buy", "limit", MID, 20 * LOT))
    _place(core, markets, funds, 2, OrderRequest("SN1/TAO", "sell", "market", qty=4 * LOT))
    assert core.last_price[1] == MID
    fired, out = _place(core, markets, funds, 1, OrderRequest(
        "SN1/TAO", "sell", "market", qty=4 * LOT, trigger="stop_loss", trigger_price=MID + TICK,
    ))  # fmt: skip
    assert fired.status == "filled" and len(out.fills) == 1
    waiting, _ = _place(core, markets, funds, 1, OrderRequest(
        "SN1/TAO", "sell", "market", qty=4 * LOT, trigger="stop_loss", trigger_price=MID - TICK,
        client_order_id="sl",
    ))  # fmt: skip
    before = funds[(1, "SN1")]
    out = Outcome()
    [cancelled] = core.execute(CancelOrders(1, client_order_ids=["sl"]), markets, funds, out)
    assert cancelled.status == "cancelled" and funds[(1, "SN1")] == before + 4 * LOT
    assert out.resolve == {waiting.hold_id: "voided"} and not core.stops
    amend = core.execute(AmendOrder(1, fired.id, None, 8 * LOT, None), markets, funds, Outcome())
    assert isinstance(amend, AppError) and amend.code == "order_not_found"


def test_a_stop_the_rules_refuse_when_it_fires_ends_cancelled_with_the_reason() -> None:
    funds: Funds = {(u, a): 10**12 for u in USERS for a in (QUOTE, "SN1")}
    core, markets, rules = _core_with(funds, min_size=LOT, min_notional=1)
    stop, _ = _place(core, markets, funds, 1, OrderRequest(
        "SN1/TAO", "sell", "limit", MID - 3 * TICK, 4 * LOT, trigger="stop_loss",
        trigger_price=MID - TICK,
    ))  # fmt: skip
    # The tick changes: the stop's limit price is now off the tick.
    coarse = Markets([dataclasses.replace(rules, tick=10 * TICK)])
    _place(
        core, coarse, funds, 3, OrderRequest("SN1/TAO", "buy", "limit", MID - 10 * TICK, 4 * LOT)
    )
    _, out = _place(core, coarse, funds, 2, OrderRequest("SN1/TAO", "sell", "market", qty=4 * LOT))
    assert stop.status == "cancelled" and stop.cancel_reason == "invalid_tick"
    assert out.resolve[stop.hold_id] == "voided" and not core.stops


def test_a_trailing_stop_follows_the_best_price_and_fires_when_it_turns() -> None:
    funds: Funds = {(u, a): 10**12 for u in USERS for a in (QUOTE, "SN1")}
    core, markets, _ = _core_with(funds, min_size=LOT, min_notional=1)

    def trade(price: int) -> Outcome:
        _place(core, markets, funds, 3, OrderRequest("SN1/TAO", "buy", "limit", price, LOT))
        _, out = _place(core, markets, funds, 2, OrderRequest("SN1/TAO", "sell", "market", qty=LOT))
        return out

    trade(MID)
    stop, _ = _place(core, markets, funds, 1, OrderRequest(
        "SN1/TAO", "sell", "market", qty=4 * LOT, trigger="trailing_stop", trail_offset=5 * TICK,
    ))  # fmt: skip
    assert stop.status == "untriggered" and stop.trigger_price == MID - 5 * TICK
    out = trade(MID + 8 * TICK)  # the price rises: the trigger follows, 5 ticks below
    assert stop.trigger_price == MID + 3 * TICK and out.touched[stop.id] is stop
    trade(MID + 6 * TICK)  # a dip above the trigger: it stays
    assert stop.trigger_price == MID + 3 * TICK and stop.id in core.stops
    _place(core, markets, funds, 3, OrderRequest("SN1/TAO", "buy", "limit", MID, 10 * LOT))
    out = trade(MID + 3 * TICK)  # down to the trigger: it fires and sells into the bids
    assert stop.status == "filled" and stop.filled_qty == 4 * LOT and not core.stops
    # In basis points, and buys trail the lowest price from above.
    bps, _ = _place(core, markets, funds, 1, OrderRequest(
        "SN1/TAO", "buy", "market", qty=LOT, trigger="trailing_stop", trail_bps=100,
    ))  # fmt: skip
    assert core.last_price[1] == MID  # the stop sold into the bid at MID
    assert bps.trigger_price == MID + MID // 100
    refused = core.execute(
        PlaceOrders(1, [OrderRequest("SN1/TAO", "sell", "limit", MID, LOT,
                                     trigger="trailing_stop", trail_bps=100)]),
        markets, funds, Outcome(),
    )  # fmt: skip
    assert isinstance(refused, AppError) and refused.code == "invalid_order_type"
