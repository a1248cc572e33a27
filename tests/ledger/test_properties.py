"""Property: random sequences of deposits, holds, partial consumptions, posts, voids, trade
batches and withdrawals keep every ledger invariant and match a model of the balances;
replaying every operation that succeeded, with the same ids, changes nothing."""

from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.ledger import service as L
from app.ledger.check import check_ledger
from app.ledger.errors import HoldExceeded, InsufficientFunds, InvalidState
from tests.conftest import truncate_all

USERS = 3
ASSETS = ("TAO", "SN1")
EXPECTED = (InsufficientFunds, HoldExceeded, InvalidState)

user = st.integers(0, USERS - 1)
asset = st.sampled_from(ASSETS)
amount = st.integers(1, 1_000)
ref = st.integers(0, 50)
op = st.one_of(
    st.tuples(st.just("deposit"), user, asset, st.integers(1, 5_000)),
    st.tuples(st.just("hold"), user, asset, amount),
    st.tuples(st.just("consume"), ref, amount, user),
    st.tuples(st.just("post"), ref, st.none() | st.integers(0, 1_000), user),
    st.tuples(st.just("void"), ref),
    st.tuples(st.just("trade"), user, user, amount, amount, st.integers(0, 5)),
    st.tuples(st.just("withdraw"), user, asset, amount, st.booleans()),
)

Key = tuple[int | None, str, str]


class Model:
    def __init__(self) -> None:
        self.bal: dict[Key, int] = defaultdict(int)
        self.holds: dict[str, dict[str, Any]] = {}

    def move(self, debit: Key, credit: Key, x: int) -> None:
        self.bal[debit] -= x
        self.bal[credit] += x


async def _run(
    s: AsyncSession, i: int, o: tuple[Any, ...], users: list[int], held: list[str], m: Model
) -> None:
    """Apply op number `i`; update the model only once it has committed."""
    kind = o[0]
    if kind == "deposit":
        _, u, a, x = o
        custody = await L.system_account_id(s, a, "custody")
        avail = await L.get_account_id(s, users[u], a, "available")
        await L.apply_batch(s, [L.TransferSpec(f"dep:{i}", custody, avail, x, "deposit")])
        await s.commit()
        m.move((None, a, "custody"), (users[u], a, "available"), x)
    elif kind in ("hold", "withdraw"):
        _, u, a, x = o[:4]
        hid = f"{kind}:{i}"
        await L.place_hold(s, hid, users[u], a, x)
        await s.commit()
        m.move((users[u], a, "available"), (users[u], a, "held"), x)
        m.holds[hid] = {"user": users[u], "asset": a, "left": x}
        if kind == "hold":
            held.append(hid)
            return
        h = m.holds[hid]
        if o[4]:
            custody = await L.system_account_id(s, a, "custody")
            await L.post_hold(s, hid, credit_account_id=custody, code="withdrawal")
            await s.commit()
            m.move((users[u], a, "held"), (None, a, "custody"), x)
        else:
            await L.void_hold(s, hid)
            await s.commit()
            m.move((users[u], a, "held"), (users[u], a, "available"), x)
        h["left"] = 0
    elif kind in ("consume", "post", "void"):
        if not held:
            return
        hid = held[o[1] % len(held)]
        h = m.holds[hid]
        owner, a = h["user"], h["asset"]
        if kind == "consume":
            dest = users[o[3]]
            held_acc = await L.get_account_id(s, owner, a, "held")
            dest_acc = await L.get_account_id(s, dest, a, "available")
            spec = L.TransferSpec(f"c:{i}", held_acc, dest_acc, o[2], "trade", hold_id=hid)
            await L.apply_batch(s, [spec])
            await s.commit()
            m.move((owner, a, "held"), (dest, a, "available"), o[2])
            h["left"] -= o[2]
        elif kind == "post":
            dest = users[o[3]]
            dest_acc = await L.get_account_id(s, dest, a, "available")
            await L.post_hold(s, hid, credit_account_id=dest_acc, amount=o[2], code="trade")
            await s.commit()
            final = h["left"] if o[2] is None else o[2]
            m.move((owner, a, "held"), (dest, a, "available"), final)
            m.move((owner, a, "held"), (owner, a, "available"), h["left"] - final)
            h["left"] = 0
        else:
            await L.void_hold(s, hid)
            await s.commit()
            m.move((owner, a, "held"), (owner, a, "available"), h["left"])
            h["left"] = 0
    elif kind == "trade":
        _, u1, u2, tao, sn, fee = o
        if u1 == u2:
            return
        b, sl = users[u1], users[u2]
        acc = {
            k: await L.get_account_id(s, *k)
            for k in [
                (b, "TAO", "available"),
                (sl, "TAO", "available"),
                (sl, "SN1", "available"),
                (b, "SN1", "available"),
                (None, "TAO", "fees"),
            ]
        }
        legs = [
            ((b, "TAO", "available"), (sl, "TAO", "available"), tao),
            ((sl, "SN1", "available"), (b, "SN1", "available"), sn),
        ]
        if fee:
            legs.append(((b, "TAO", "available"), (None, "TAO", "fees"), fee))
        specs = [
            L.TransferSpec(f"t:{i}:{n}", acc[d], acc[c], x, "trade" if n < 2 else "fee")
            for n, (d, c, x) in enumerate(legs)
        ]
        await L.apply_batch(s, specs)
        await s.commit()
        for d, c, x in legs:
            m.move(d, c, x)


async def _snapshot(s: AsyncSession) -> tuple[Any, ...]:
    accounts = (await s.execute(text("SELECT id, balance FROM ledger_accounts ORDER BY id"))).all()
    holds = (
        await s.execute(text("SELECT id, state, consumed, released FROM ledger_holds ORDER BY id"))
    ).all()
    transfers = await s.scalar(text("SELECT count(*) FROM ledger_transfers"))
    return (tuple(map(tuple, accounts)), tuple(map(tuple, holds)), transfers)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(op, min_size=1, max_size=30))
async def test_random_sequences_keep_the_invariants_and_replay_is_a_no_op(
    engine: AsyncEngine, ops: list[tuple[Any, ...]]
) -> None:
    await truncate_all(engine)
    L.clear_account_cache()
    maker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    async with maker() as s:
        await L.ensure_asset(s, "TAO")
        await L.ensure_asset(s, "SN1", netuid=1)
        users = [
            int(await s.scalar(text(f"INSERT INTO users (email) VALUES ('p{n}@x') RETURNING id")))
            for n in range(USERS)
        ]
        await s.commit()

        model, held, done = Model(), [], []
        for i, o in enumerate(ops):
            try:
                await _run(s, i, o, users, held, model)
            except EXPECTED:
                await s.rollback()
            else:
                done.append((i, o))

        report = await check_ledger(s)
        assert report.ok, report.render()
        for (u, a, kind), expected in model.bal.items():
            assert (await L.balances_of(s, [await L.get_account_id(s, u, a, kind)])).popitem()[
                1
            ] == expected, (u, a, kind)
        before = await _snapshot(s)

        # Replay what succeeded, with the same ids: every call is a replay or refused.
        replay_held: list[str] = []
        replay_model = Model()
        for i, o in done:
            try:
                await _run(s, i, o, users, replay_held, replay_model)
            except InvalidState:
                await s.rollback()
        await s.commit()
        assert await _snapshot(s) == before
        assert (await check_ledger(s)).ok
    await truncate_all(engine)
