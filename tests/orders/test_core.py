"""The order core's invariants, with Hypothesis and no Postgres: a refusal changes nothing;
every rao and alpha-rao is conserved; no balance goes negative; no hold is exceeded, and an
ended order's hold is used to the last unit; the core's view of the locked balances is the
ledger's."""

import copy
import itertools
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.kit.errors import AppError
from app.ledger.settlement import FeeSchedule
from app.orders.commands import AmendOrder, CancelOrders, OrderRequest, PlaceOrders
from app.orders.core import QUOTE, Funds, MarketRules, Markets, OrderCore, Outcome

TICK, LOT, MID = 1_000, 1_000_000, 50_000_000
USERS = (1, 2, 3)


def market(maker_bps: int, taker_bps: int, state: str = "trading") -> MarketRules:
    return MarketRules(
        id=1,
        symbol="SN1/TAO",
        base="SN1",
        state=state,
        tick=TICK,
        lot=LOT,
        min_size=LOT,
        min_notional=1,
        fees=FeeSchedule(maker_bps, taker_bps),
        band_bps=5000,
        reference_price=MID,
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

    def _move(self, debit: Any, credit: Any, amount: int) -> None:
        self.balances[debit] -= amount
        self.balances[credit] += amount
        for ref in (debit, credit):
            if ref[0] is not None:
                assert self.balances[ref] >= 0, f"{ref} went negative"

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for (_, asset, _kind), amount in self.balances.items():
            out[asset] += amount
        return dict(out)


def state_of(core: OrderCore, funds: Funds) -> Any:
    return (
        {k: (b.depth(None), list(b.open_orders())) for k, b in core.books.items()},
        copy.deepcopy(core.orders),
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
request = st.integers(0, 9).flatmap(
    lambda k: limit if k < 7 else by_qty if k == 7 else by_budget if k == 8 else invalid
)
place = st.builds(lambda u, rs: ("place", u, rs), user, st.lists(request, min_size=1, max_size=3))
other = st.one_of(
    st.builds(lambda u, k: ("cancel", u, k), user, st.integers(0, 60)),
    st.builds(lambda u: ("cancel_all", u), user),
    st.builds(lambda u, k, t, n: ("amend", u, k, t, n), user, st.integers(0, 60), ticks, lots),
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
    return AmendOrder(uid, target, None, c[4] * LOT, MID + c[3] * TICK)


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
        for (uid, asset), amount in funds.items():
            assert ledger.balances[(uid, asset, "available")] == amount
        # Open orders hold what they still need; ended ones are gone from the core.
        for order in core.orders.values():
            assert order.status == "open"
            assert ledger.holds[order.hold_id][1] == order.hold_used
        for order in out.touched.values():
            if order.status != "open":
                assert order.hold_id in ledger.resolved
                assert order.id not in core.orders
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
        PlaceOrders(1, [OrderRequest("SN1/TAO", "buy", "limit", MID - TICK, LOT)]), markets,
        funds, out,
    )[0]  # fmt: skip
    ask = core.execute(
        PlaceOrders(2, [OrderRequest("SN1/TAO", "sell", "limit", MID, LOT, post_only=True)]),
        markets, funds, out,
    )[0]  # fmt: skip
    refused = core.execute(AmendOrder(2, ask.id, None, None, MID - TICK), markets, funds, Outcome())
    assert isinstance(refused, AppError) and refused.code == "post_only_would_take"
    assert core.orders[ask.id].price == MID and bid.id in core.orders
    # Amending it to a price that does not cross is fine.
    amended = core.execute(AmendOrder(2, ask.id, None, None, MID + TICK), markets, funds, out)
    assert not isinstance(amended, AppError) and core.orders[ask.id].price == MID + TICK
