"""Reward distribution from synthetic indexed blocks: exact proportions, time weighting,
commission and rounding, idempotency, stake flows, APR and reconciliation."""

from fractions import Fraction

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.models import LedgerTransfer, RewardDistribution
from app.staking.rewards import distribute_block, split_reward
from tests.conftest import SignedFactory
from tests.listings.helpers import index
from tests.signing import SignedClient
from tests.staking.helpers import (
    ALPHA,
    HK,
    NETUID,
    assert_books_balance,
    balance,
    chain_state,
    deposit,
    epoch_at,
    list_market,
)

START = 1000 * ALPHA
# Positions that hold exactly what users allocated there, as the stake manager keeps them:
# all of their growth is the users'.
ALLOCATED = 100 * ALPHA  # alice's 100
ALLOCATED_ALL = 300 * ALPHA  # 1800 alpha-blocks over the 6 blocks of the period


def test_the_synthetic_schedule_has_a_deferred_epoch() -> None:
    assert epoch_at(60_001) == (10_010, 59_997, 0)
    assert epoch_at(60_002) == (10_011, 60_002, 0)
    assert epoch_at(60_007) == (10_011, 60_002, 60_008)  # due, deferred by the per-block cap
    assert epoch_at(60_008) == (10_012, 60_008, 0)
    assert epoch_at(60_013) == (10_013, 60_013, 0)  # the cycle restarted at 60_008


async def test_a_deferred_epoch_closes_the_period_at_the_block_that_ran_it(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    """At 60_007 the slot was due (`LastEpochBlock + tempo`) but deferred: nothing is paid
    there, although a schedule computed from the block number would close the period; the
    epoch that ran at 60_008 closes it, with what it paid."""
    admin = await signed("admin")
    alice = await signed("read,trade")
    await list_market(app, admin, 60_000, stakes={HK[0]: ALLOCATED})
    await deposit(admin, alice.user_id, 1000 * ALPHA)
    await index(app, chain_state(60_002, {HK[0]: ALLOCATED}))
    await _allocate(alice, HK[0], 100 * ALPHA)
    await index(app, chain_state(60_007, {HK[0]: ALLOCATED}))
    async with db.connect() as conn:
        kinds = (await conn.execute(select(RewardDistribution.kind))).scalars().all()
    assert kinds == ["baseline"]
    await index(app, chain_state(60_008, {HK[0]: ALLOCATED + 1_000}))
    rows = (await alice.get("/v1/staking/rewards")).json()["rewards"]
    assert [(r["epoch"], r["start_block"], r["end_block"], r["amount"]) for r in rows] == [
        (10_012, 60_002, 60_008, "900")
    ]
    # The cycle restarted at 60_008: the next epoch runs at 60_013 (not at a fixed stride).
    await index(app, chain_state(60_012, {HK[0]: ALLOCATED + 1_000}))
    await index(app, chain_state(60_013, {HK[0]: ALLOCATED + 3_000}))
    rows = (await alice.get("/v1/staking/rewards")).json()["rewards"]
    newest = rows[0]
    assert (newest["epoch"], newest["start_block"], newest["end_block"]) == (10_013, 60_008, 60_013)
    # Alice's allocation is 100 alpha + 900 rao; the position also holds the 100 rao of
    # commission, whose share of the growth (1 rao) the exchange keeps.
    assert newest["amount"] == "1800"
    await assert_books_balance(app)


def test_split_is_exact_and_deterministic() -> None:
    split = split_reward(10_000_007, 1000, {1: 500, 2: 900, 3: 400})
    assert split.commission == 1_000_000
    assert [p.amount for p in split.payouts] == [2_500_001, 4_500_003, 2_000_001]
    assert split.rounding == 2
    assert split.commission + sum(p.amount for p in split.payouts) + split.rounding == 10_000_007
    assert split_reward(0, 1000, {1: 5}).payouts == []
    nobody = split_reward(77, 1000, {})
    assert (nobody.commission, nobody.payouts, nobody.rounding) == (77, [], 0)


async def _allocate(
    user: SignedClient, hotkey: str, amount: int, path: str = "allocations"
) -> None:
    r = await user.post(
        f"/v1/staking/{path}", {"market": "SN64-TAO", "hotkey": hotkey, "amount": str(amount)}
    )
    assert r.status_code in (200, 201), r.text


async def _transfer_count(db: AsyncEngine) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(LedgerTransfer)) or 0)


async def test_rewards_are_time_weighted_and_add_up_exactly(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    admin = await signed("admin")
    alice, bob, carol = [await signed("read,trade") for _ in range(3)]
    await list_market(app, admin, 60_000, stakes={HK[0]: ALLOCATED_ALL})
    for user in (alice, bob, carol):
        await deposit(admin, user.user_id, 1000 * ALPHA)

    # 60_002 opens epoch 10_011: the first period's baseline.
    await index(app, chain_state(60_002, {HK[0]: ALLOCATED_ALL}))
    await _allocate(alice, HK[0], 100 * ALPHA)  # stamped 60_002: 6 blocks
    await index(app, chain_state(60_005, {HK[0]: ALLOCATED_ALL}))
    await _allocate(bob, HK[0], 300 * ALPHA)  # stamped 60_005: 3 blocks
    await index(app, chain_state(60_006, {HK[0]: ALLOCATED_ALL}))
    await _allocate(carol, HK[0], 200 * ALPHA)  # stamped 60_006: 2 blocks
    await _allocate(alice, HK[0], 50 * ALPHA, "deallocations")  # alice leaves half for 2 blocks
    # The epoch at 60_008 grows the position by 10_000_007 rao.
    growth = 10_000_007
    await index(app, chain_state(60_008, {HK[0]: ALLOCATED_ALL + growth}))

    weights = {alice.user_id: 500 * ALPHA, bob.user_id: 900 * ALPHA, carol.user_id: 400 * ALPHA}
    pool = growth - growth // 10
    expected = {u: pool * w // (1800 * ALPHA) for u, w in weights.items()}
    assert list(expected.values()) == [2_500_001, 4_500_003, 2_000_001]

    rewards = {}
    for user in (alice, bob, carol):
        rows = (await user.get("/v1/staking/rewards")).json()["rewards"]
        assert len(rows) == 1 and rows[0]["epoch"] == 10_012
        assert (rows[0]["start_block"], rows[0]["end_block"]) == (60_002, 60_008)
        assert rows[0]["weight"] == str(weights[user.user_id])
        rewards[user.user_id] = int(rows[0]["amount"])
    assert rewards == expected
    assert await balance(db, None, "fees") == 1_000_000
    assert await balance(db, None, "rounding") == 2
    assert sum(rewards.values()) + 1_000_000 + 2 == growth
    # Rewards compound: credited to staked and added to the allocation.
    positions = (await bob.get("/v1/staking/positions")).json()["allocations"]
    assert positions[0]["amount"] == str(300 * ALPHA + expected[bob.user_id])
    assert await balance(db, bob.user_id, "staked") == 300 * ALPHA + expected[bob.user_id]
    await assert_books_balance(app)

    # Re-running the block (or the indexer) pays nothing twice.
    transfers = await _transfer_count(db)
    async with app.state.sessionmaker() as session:
        assert await distribute_block(session, 60_008) == []
        await session.commit()
    await index(
        app, chain_state(60_008, {HK[0]: ALLOCATED_ALL + growth})
    )  # skipped: already indexed
    assert await _transfer_count(db) == transfers

    # Next epoch: the operator moved 5 alpha into the position at 60_010 (a recorded flow);
    # only the rest of the growth is a reward. Weights now include the compounded rewards.
    r = await admin.post(
        "/v1/admin/staking/flows",
        {
            "market": "SN64-TAO",
            "hotkey": HK[0],
            "amount": str(5 * ALPHA),
            "block": 60_010,
            "reason": "deposit staked",
        },
    )
    assert r.status_code == 201, r.text
    late = {"market": "SN64-TAO", "hotkey": HK[0], "amount": "-7", "block": 60_008, "reason": "x"}
    r = await admin.post("/v1/admin/staking/flows", late)
    assert (r.status_code, r.json()["code"]) == (409, "flow_period_closed")
    await index(app, chain_state(60_014, {HK[0]: ALLOCATED_ALL + growth + 5 * ALPHA + 999}))
    async with db.connect() as conn:
        last = (
            await conn.execute(select(RewardDistribution).order_by(RewardDistribution.id.desc()))
        ).first()
    assert last is not None
    assert (last.epoch, last.growth, last.net_flow, last.commission) == (10_013, 999, 5 * ALPHA, 99)
    assert last.users_total + last.rounding == 900
    await assert_books_balance(app)


async def test_position_without_stakers_books_growth_to_fees(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    admin = await signed("admin")
    await list_market(app, admin, 60_000, stakes={HK[0]: START})
    await index(app, chain_state(60_002, {HK[0]: START}))
    await index(app, chain_state(60_008, {HK[0]: START + 1234}))
    assert await balance(db, None, "fees") == 1234
    assert await balance(db, None, "custody") == -1234
    await assert_books_balance(app)


async def test_validators_endpoint_reports_custody_stake_and_apr(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    admin = await signed("admin")
    alice = await signed("read,trade")
    await list_market(app, admin, 60_000, stakes={HK[0]: START})
    r = await alice.client.get("/v1/staking/validators", params={"market": "SN64-TAO"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["commission_bps"] == 1000 and body["netuid"] == NETUID
    first = {v["hotkey"]: v for v in body["validators"]}
    assert first[HK[0]]["custody_stake"] == str(START) and first[HK[0]]["apr"] is None
    assert first[HK[1]]["custody_stake"] == "0" and first[HK[0]]["take_bps"] == 1799

    # Three epochs later (60_002, the deferred 60_008, 60_013) the share price grew by 0.1%,
    # earned over the 16 blocks from the epoch at 59_997 to the one at 60_013: a simple rate.
    await index(app, chain_state(60_014, {HK[0]: START}, price=Fraction(1001, 1000)))
    v = {
        v["hotkey"]: v
        for v in (
            await alice.client.get("/v1/staking/validators", params={"market": "SN64-TAO"})
        ).json()["validators"]
    }
    (e0, last0, _), (e1, last1, _) = epoch_at(60_000), epoch_at(60_014)
    assert (e1 - e0, last1 - last0) == (3, 16) and v[HK[0]]["apr_epochs"] == 3
    apr = Fraction(1, 1000) * Fraction(2_628_000, 16)
    assert apr == Fraction(16425, 100) and v[HK[0]]["apr"] == "164.250000"
    assert v[HK[0]]["net_apr"] == "147.825000"
    assert v[HK[1]]["apr"] is None
    r = await alice.client.get("/v1/staking/validators", params={"market": "SN1-TAO"})
    assert (r.status_code, r.json()["code"]) == (404, "market_not_found")


async def test_reconciliation_shows_allocated_on_chain_and_difference(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    admin = await signed("admin")
    alice = await signed("read,trade")
    await list_market(app, admin, 60_000, stakes={HK[0]: 500 * ALPHA})
    await deposit(admin, alice.user_id, 500 * ALPHA)
    await _allocate(alice, HK[0], 100 * ALPHA)
    await _allocate(alice, HK[1], 300 * ALPHA)
    await _allocate(alice, HK[2], 50 * ALPHA)

    r = await admin.get("/v1/admin/staking/reconciliation")
    assert r.status_code == 200, r.text
    rows = {row["hotkey"]: row for row in r.json()["positions"]}
    assert r.json()["ok"] is True  # no drift watched yet: nothing is an alert
    assert (rows[HK[0]]["on_chain"], rows[HK[0]]["allocated"]) == (
        str(500 * ALPHA),
        str(100 * ALPHA),
    )
    # No float hotkey configured here: every position should hold its allocations.
    assert [rows[h]["difference"] for h in HK[:3]] == [
        str(400 * ALPHA),
        str(-300 * ALPHA),
        str(-50 * ALPHA),
    ]
    assert all(rows[h]["in_flight"] == "0" and rows[h]["alert"] is False for h in HK[:3])
    assert (await alice.get("/v1/admin/staking/reconciliation")).status_code == 403
    assert (await admin.get("/v1/admin/staking/operations")).json()["operations"] == []
    # The admin no longer plans nor marks moves: the stake manager does (on the devnet).
    assert (await admin.post("/v1/admin/staking/operations/plan")).status_code in (404, 405)


def test_users_earn_only_for_their_part_of_the_position() -> None:
    # The float hotkey holds 600 of users' allocations and 400 unallocated: users earn 60%.
    split = split_reward(1_000_003, 1000, {1: 200 * 6, 2: 400 * 6}, position_weight=1000 * 6)
    assert split.retained == 1_000_003 - 600_001
    assert split.commission == 60_000
    assert [p.amount for p in split.payouts] == [180_000, 360_000]
    assert split.rounding == 1
    assert (
        sum(p.amount for p in split.payouts) + split.commission + split.rounding + (split.retained)
        == 1_000_003
    )
    # More allocated than the position held (a move still in flight): all of it, no more.
    capped = split_reward(1000, 0, {1: 5000}, position_weight=4000)
    assert (capped.retained, [p.amount for p in capped.payouts]) == (0, [1000])
