"""Acceptance on the devnet: the real indexer follows fast blocks (tempo 5); the custody
coldkey holds stake with a validator; users allocate, join and leave mid-epoch. Rewards add
up to the position's growth exactly and split by time-weighted balance; re-running pays
nothing twice; the ledger check passes."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.chain.client import AsyncChainClient
from app.chain.devnet.server import DevnetThread
from app.models import IndexerState, LedgerTransfer, RewardDistribution, StakingReward
from app.staking.rewards import distribute_block
from tests.conftest import SignedFactory, fast_devnet
from tests.indexer.test_runner import make_indexer
from tests.signing import SignedClient
from tests.staking.helpers import ALPHA, CUSTODY, assert_books_balance, balance

NETUID = 2
SEEDED = 1000 * ALPHA


@pytest.fixture
def devnet() -> Iterator[DevnetThread]:
    yield from fast_devnet(seed=3, subnets=6, tempo=5)


async def _last_block(db: AsyncEngine) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(select(IndexerState.last_block)) or 0)


async def _transfers(db: AsyncEngine) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(LedgerTransfer)) or 0)


def _custody_stake(devnet: DevnetThread, block: int, hotkey: str) -> int:
    found = devnet.chain.block_by_number(block)
    assert found is not None
    return sum(
        p.stake
        for p in found.view.positions
        if p.netuid == NETUID and p.hotkey == hotkey and p.coldkey == CUSTODY
    )


async def test_rewards_on_the_devnet_add_up_and_split_by_time_weight(
    app: FastAPI,
    signed: SignedFactory,
    db: AsyncEngine,
    devnet: DevnetThread,
    chain_client: AsyncChainClient,
) -> None:
    hotkey = next(
        v.hotkey
        for v in devnet.chain.finalized.view.validators
        if v.netuid == NETUID and v.validator_permit
    )
    devnet.chain.seed_stake(CUSTODY, hotkey, NETUID, SEEDED)
    devnet.chain.produce_blocks(2)
    indexer = make_indexer(chain_client, app)
    await indexer.catch_up()

    admin = await signed("admin")
    listings = (await admin.get("/v1/admin/listings", {"state": "candidate"})).json()
    lid = next(item["id"] for item in listings if item["netuid"] == NETUID)
    r = await admin.post(f"/v1/admin/listings/{lid}/approve", {"override_reason": "devnet"})
    assert r.status_code == 200, r.text
    users = [await signed("read,trade") for _ in range(3)]
    for i, user in enumerate(users):
        r = await admin.post(
            "/v1/admin/deposits",
            {
                "user_id": user.user_id,
                "asset": "SN2",
                "amount": str(500 * ALPHA),
                "external_ref": f"dev{i}",
            },
        )
        assert r.status_code == 201, r.text

    # The test's own log of allocation changes: (block stamped, user, delta).
    log: list[tuple[int, int, int]] = []

    async def act(user: SignedClient, path: str, amount: int) -> None:
        block = await _last_block(db)
        r = await user.post(
            f"/v1/staking/{path}", {"market": "SN2-TAO", "hotkey": hotkey, "amount": str(amount)}
        )
        assert r.status_code in (200, 201), r.text
        log.append((block, user.user_id, amount if path == "allocations" else -amount))

    alice, bob, carol = users
    schedule = {
        1: (alice, "allocations", 400 * ALPHA),
        4: (bob, "allocations", 100 * ALPHA),
        10: (alice, "deallocations", 150 * ALPHA),
        15: (carol, "allocations", 250 * ALPHA),
        17: (bob, "deallocations", 100 * ALPHA),
        22: (bob, "allocations", 40 * ALPHA),
    }
    for step in range(36):  # six epochs of six blocks
        if step in schedule:
            await act(*schedule[step])
        devnet.chain.produce_block()
        await indexer.catch_up()

    async with db.connect() as conn:
        distributions = list(
            (
                await conn.execute(
                    select(RewardDistribution)
                    .where(RewardDistribution.hotkey == hotkey)
                    .order_by(RewardDistribution.end_block)
                )
            ).all()
        )
        paid = {
            (r.distribution_id, r.user_id): r.amount
            for r in (await conn.execute(select(StakingReward))).all()
        }
    baseline, periods = distributions[0], distributions[1:]
    assert baseline.kind == "baseline" and len(periods) >= 5
    rewarded = [d for d in periods if d.kind == "reward"]
    assert len(rewarded) >= 4 and all(d.growth > 0 for d in rewarded)

    # Every period: the indexed stakes are the chain's, and the split is exact.
    total_growth = 0
    partial_periods: set[int] = set()  # users with a partial-period weight somewhere
    for d in periods:
        # Closed at the block whose epoch ran, under the chain's epoch counter.
        ran = devnet.chain.block_by_number(d.end_block)
        assert ran is not None
        assert ran.view.subnets[NETUID].last_epoch_block == d.end_block
        assert ran.view.subnets[NETUID].epoch_index == d.epoch
        assert d.end_stake == _custody_stake(devnet, d.end_block, hotkey)
        assert d.growth == d.end_stake - d.start_stake and d.net_flow == 0
        total_growth += d.growth
        # Reference: time-weighted balances replayed from the test's log (rewards compound
        # into the allocation of users still allocated when the period closes).
        weights = {}
        for user in users:
            events = [(b, delta) for b, u, delta in log if u == user.user_id and b <= d.end_block]
            weight = sum(delta * (d.end_block - max(b, d.start_block)) for b, delta in events)
            if weight > 0:
                weights[user.user_id] = weight
        total = sum(weights.values())
        # Users earn for their part of the position (1000 SN2 seeded, at most 500 allocated):
        # the rest of the growth is earned by stake nobody allocated, the exchange's.
        position_weight = d.start_stake * (d.end_block - d.start_block)
        assert int(d.position_weight) == position_weight and total < position_weight
        earned = d.growth * total // position_weight
        assert d.retained == d.growth - earned
        assert d.commission == earned * 1000 // 10_000
        pool = earned - d.commission
        expected = {u: pool * w // total for u, w in weights.items()} if total else {}
        got = {u: amount for (did, u), amount in paid.items() if did == d.id}
        assert got == expected, (d.end_block, got, expected)
        for user_id, weight in weights.items():
            held_at_end = sum(delta for b, u, delta in log if u == user_id and b < d.end_block)
            if weight != held_at_end * (d.end_block - d.start_block):
                partial_periods.add(user_id)
        assert sum(got.values()) + d.commission + d.rounding + d.retained == d.growth
        assert 0 <= d.rounding < max(1, len(got))
        for user_id, amount in got.items():
            allocated_then = sum(delta for b, u, delta in log if u == user_id and b < d.end_block)
            if amount and allocated_then > 0:
                log.append((d.end_block, user_id, amount))
    assert total_growth == periods[-1].end_stake - baseline.end_stake > 0
    # Everyone joined or left mid-epoch at least once, and was paid for part of a period.
    assert partial_periods == {alice.user_id, bob.user_id, carol.user_id}
    assert len({len([k for k in paid if k[0] == d.id]) for d in rewarded}) > 1

    # The ledger: user rewards + fees (commission, retained) + rounding = growth; custody
    # mirrors chain holdings.
    users_total = sum(paid.values())
    assert (
        users_total
        + await balance(db, None, "fees", "SN2")
        + await balance(db, None, "rounding", "SN2")
        == total_growth
    )
    assert await balance(db, None, "custody", "SN2") == -(1500 * ALPHA + total_growth)
    await assert_books_balance(app)

    # Re-running every indexed block's distribution, and a fresh indexer, pay nothing twice.
    transfers = await _transfers(db)
    async with app.state.sessionmaker() as session:
        for block in range(baseline.end_block, periods[-1].end_block + 1):
            assert await distribute_block(session, block) == []
        await session.commit()
    await make_indexer(chain_client, app).catch_up()
    assert await _transfers(db) == transfers
    await assert_books_balance(app)
