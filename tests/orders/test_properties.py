"""Property: random order flows from several users, submitted concurrently so that they
form real commit groups, keep the ledger's invariants, never leave a book crossed, fill
within both limits, and the books rebuilt from Postgres equal the live ones."""

import asyncio
import dataclasses
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.kit.errors import AppError
from app.ledger import service as L
from app.ledger.check import check_ledger
from app.orders.commands import AmendOrder, CancelOrders, OrderRequest, PlaceOrders
from app.orders.sequencer import Sequencer
from tests.conftest import truncate_all

USERS = 3
MID = 50_000_000
TICK = 1_000
LOT = 1_000_000

user = st.integers(0, USERS - 1)
price = st.integers(-3, 3).map(lambda k: MID + k * TICK)
qty = st.integers(1, 40).map(lambda n: n * LOT)
limit = st.builds(
    lambda u, side, p, q, tif, post, stp: ("limit", u, side, p, q, tif, post, stp),
    user, st.sampled_from(["buy", "sell"]), price, qty, st.sampled_from(["gtc", "gtc", "ioc", "fok"]),
    st.booleans(), st.sampled_from(["cancel_newest", "cancel_oldest", "cancel_both"]),
)  # fmt: skip
market = st.builds(
    lambda u, side, q, budget: ("market", u, side, q, budget),
    user, st.sampled_from(["buy", "sell"]), qty, st.booleans(),
)  # fmt: skip
stop = st.builds(
    lambda u, side, kind, trig, limit_at, q: ("stop", u, side, kind, trig, limit_at, q),
    user, st.sampled_from(["buy", "sell"]), st.sampled_from(["stop_loss", "take_profit"]),
    price, st.one_of(st.none(), price), qty,
)  # fmt: skip
trailing = st.builds(
    lambda u, side, off, q: ("trailing", u, side, off, q),
    user, st.sampled_from(["buy", "sell"]), st.integers(0, 3), qty,
)  # fmt: skip
cancel = st.tuples(st.just("cancel"), user, st.integers(0, 30))
amend = st.tuples(
    st.just("amend"), user, st.integers(0, 30), st.integers(1, 40), st.integers(-3, 3)
)
command = st.one_of(limit, limit, limit, market, stop, trailing, cancel, amend)


async def _setup(engine: AsyncEngine) -> list[int]:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as s:
        await L.ensure_asset(s, "SN1", "alpha 1", netuid=1)
        await s.execute(
            text(
                "INSERT INTO subnets (netuid, registered_at, status, symbol, name, owner_coldkey, "
                "owner_hotkey, mechanism, tempo, tao_in, alpha_in, alpha_out, price_rao, "
                "moving_price_bits, volume, tao_in_emission, alpha_in_emission, alpha_out_emission, "
                "fee_rate, quote_weight, first_seen_block, last_block) VALUES (1, 1, 'active', 'a', "
                "'n', 'o', 'h', 1, 360, 1, 1, 0, :p, 0, 0, 0, 0, 0, 33, 500000000000000000, 1, 1)"
            ),
            {"p": MID},
        )
        await s.execute(
            text(
                "INSERT INTO markets (symbol, base_asset, quote_asset, subnet_id, netuid, state, "
                "tick_size, lot_size, min_size, min_notional, maker_fee_bps, taker_fee_bps, "
                "price_band_bps) SELECT 'SN1/TAO', 'SN1', 'TAO', id, 1, 'trading', :t, :l, :l, 0, "
                "7, 23, 5000 FROM subnets"
            ),
            {"t": TICK, "l": LOT},
        )
        users = []
        for i in range(USERS):
            uid = int(
                await s.scalar(
                    text("INSERT INTO users (email) VALUES (:e) RETURNING id"), {"e": f"p{i}@x"}
                )
            )
            users.append(uid)
            for asset, amount in (("TAO", 3 * 10**9), ("SN1", 60 * 10**9)):
                custody = await L.system_account_id(s, asset, "custody")
                avail = await L.get_account_id(s, uid, asset, "available")
                await L.apply_batch(
                    s, [L.TransferSpec(f"d{uid}{asset}", custody, avail, amount, "deposit")]
                )
        await s.commit()
    return users


def _to_command(c: tuple[Any, ...], users: list[int], seq: Sequencer) -> Any:
    if c[0] == "limit":
        _, u, side, p, q, tif, post, stp = c
        return PlaceOrders(
            users[u], [OrderRequest("SN1/TAO", side, "limit", p, q, None, tif, post, stp)]
        )
    if c[0] == "market":
        _, u, side, q, budget = c
        if budget and side == "buy":
            return PlaceOrders(
                users[u], [OrderRequest("SN1/TAO", side, "market", None, None, q // 20)]
            )
        return PlaceOrders(users[u], [OrderRequest("SN1/TAO", side, "market", None, q)])
    if c[0] == "stop":
        _, u, side, kind, trig, limit_at, q = c
        request = OrderRequest(
            "SN1/TAO", side, "market" if limit_at is None else "limit", limit_at, q,
            trigger=kind, trigger_price=trig,
        )  # fmt: skip
        return PlaceOrders(users[u], [request])
    if c[0] == "trailing":
        _, u, side, off, q = c
        request = OrderRequest(
            "SN1/TAO", side, "market", qty=q, trigger="trailing_stop", trail_offset=off * TICK
        )
        return PlaceOrders(users[u], [request])
    live = {**seq.core.orders, **seq.core.stops}
    own = sorted(oid for oid, o in live.items() if o.user_id == users[c[1]])
    oid = own[c[2] % len(own)] if own else 10**9
    if c[0] == "cancel":
        return CancelOrders(users[c[1]], order_ids=[oid])
    return AmendOrder(users[c[1]], oid, None, c[3] * LOT, MID + c[4] * TICK)


async def _check(engine: AsyncEngine, seq: Sequencer, prices: dict[int, set[int]]) -> None:
    async with async_sessionmaker(engine)() as s:
        report = await check_ledger(s)
        assert report.ok, report.render()
        # A limit taker fills within its limit (an amended order: within one it had).
        fills = await s.execute(
            text(
                "SELECT f.taker_order_id, f.taker_side, f.price FROM fills f "
                "JOIN orders t ON t.id = f.taker_order_id WHERE t.type = 'limit'"
            )
        )
        for order_id, taker_side, price in fills:
            had = prices[order_id]
            assert price <= max(had) if taker_side == "buy" else price >= min(had)
        assert (
            await s.scalar(
                text("SELECT count(*) FROM fills WHERE quote <> price * qty / 1000000000")
            )
            == 0
        )
        # Every open order's unspent hold is exactly what the ledger holds for it.
        mismatched = await s.scalar(
            text(
                "SELECT count(*) FROM orders o JOIN ledger_holds h ON h.id = o.hold_id "
                "WHERE (o.status IN ('open', 'untriggered')) <> (h.state = 'pending')"
            )
        )
        assert mismatched == 0
    for book in seq.core.books.values():
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is None or ask is None or bid < ask
    rebuilt = Sequencer(engine, [])
    await rebuilt.restore(None)
    for market_id, book in seq.core.books.items():
        assert list(rebuilt.core.books[market_id].open_orders()) == list(book.open_orders())
    assert {k: dataclasses.asdict(v) for k, v in rebuilt.core.orders.items()} == {
        k: dataclasses.asdict(v) for k, v in seq.core.orders.items()
    }
    # Untriggered stops and the last prices they are compared with survive a restart.
    assert {k: dataclasses.asdict(v) for k, v in rebuilt.core.stops.items()} == {
        k: dataclasses.asdict(v) for k, v in seq.core.stops.items()
    }
    assert rebuilt.core.last_price == seq.core.last_price


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(commands=st.lists(command, min_size=10, max_size=50), chunk=st.integers(1, 8))
async def test_random_flows_keep_books_and_ledger_consistent(
    engine: AsyncEngine, commands: list[tuple[Any, ...]], chunk: int
) -> None:
    await truncate_all(engine)
    users = await _setup(engine)
    seq = Sequencer(engine, [])
    await seq.start()
    prices: dict[int, set[int]] = {}  # every price each order had
    try:
        for start in range(0, len(commands), chunk):
            batch = [_to_command(c, users, seq) for c in commands[start : start + chunk]]
            results = await asyncio.gather(*(seq.submit(b) for b in batch), return_exceptions=True)
            for cmd, r in zip(batch, results, strict=True):
                if isinstance(r, BaseException):
                    assert isinstance(r, AppError), r  # refusals are fine, crashes are not
                    continue
                if isinstance(cmd, PlaceOrders):
                    for request, placed in zip(cmd.orders, r, strict=True):
                        if request.price is not None:
                            prices.setdefault(placed.id, set()).add(request.price)
                elif isinstance(cmd, AmendOrder) and cmd.order_id is not None:
                    prices.setdefault(cmd.order_id, set()).add(cmd.price or 0)
        await _check(engine, seq, prices)
    finally:
        await seq.stop()
        await truncate_all(engine)
