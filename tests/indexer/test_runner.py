"""The real indexer against the devnet over WebSocket JSON-RPC."""

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.chain.client import AsyncChainClient
from app.chain.devnet.chain import account, ss58
from app.chain.devnet.server import DevnetThread
from app.indexer.runner import Indexer, IndexerOptions
from app.models import CustodyPosition, IndexerState, Listing, Subnet, SubnetHistory, Validator
from tests.conftest import fast_devnet

CUSTODY = ss58(account(99, "custody"))


@pytest.fixture
def devnet() -> Iterator[DevnetThread]:
    yield from fast_devnet(seed=3, subnets=6, tempo=5)


def make_indexer(client: AsyncChainClient, app: FastAPI, **options: object) -> Indexer:
    opts = IndexerOptions(chain="devnet", poll_seconds=0.05, custody_coldkeys=(CUSTODY,), **options)  # type: ignore[arg-type]
    return Indexer(client, app.state.engine, opts, app.state.sync_listeners)


async def _history_blocks(db: AsyncEngine) -> list[int]:
    async with db.connect() as conn:
        rows = await conn.execute(
            select(SubnetHistory.block_number).distinct().order_by(SubnetHistory.block_number)
        )
        return list(rows.scalars())


async def test_snapshot_in_postgres_matches_the_devnet_exactly(
    app: FastAPI, devnet: DevnetThread, chain_client: AsyncChainClient, db: AsyncEngine
) -> None:
    netuid = 2
    hotkey = devnet.chain.block().view.validators[0].hotkey
    devnet.chain.seed_stake(CUSTODY, hotkey, 1, 123 * 10**9)
    devnet.chain.produce_blocks(3)
    indexer = make_indexer(chain_client, app)
    assert await indexer.catch_up() >= 1
    finalized = devnet.chain.finalized
    truth = finalized.view
    async with db.connect() as conn:
        state = (await conn.execute(select(IndexerState))).one()
        assert (state.last_block, state.last_block_hash) == (finalized.number, finalized.hash)
        rows = {r.netuid: r for r in (await conn.execute(select(Subnet))).all()}
        assert set(rows) == set(truth.subnets)
        for n, s in truth.subnets.items():
            row = rows[n]
            assert (row.tao_in, row.alpha_in, row.alpha_out) == (s.tao_in, s.alpha_in, s.alpha_out)
            assert (
                row.price_rao == s.price_rao and int(row.moving_price_bits) == s.moving_price_bits
            )
            assert int(row.volume) == s.volume and row.symbol == s.symbol
            assert row.registered_at == s.registered_at and row.owner_coldkey == s.owner_coldkey
            assert (row.epoch_index, row.last_epoch_block, row.pending_epoch_at) == (
                s.epoch_index,
                s.last_epoch_block,
                s.pending_epoch_at,
            )
        # Block times are the chain's (`Timestamp.Now`), not the indexer's clock.
        times = (
            await conn.execute(
                select(SubnetHistory.block_number, SubnetHistory.block_time).distinct()
            )
        ).all()
        assert times and all(
            t.timestamp() * 1000 == devnet.chain.block_by_number(b).view.timestamp_ms  # type: ignore[union-attr]
            for b, t in times
        )
        vals = (
            await conn.execute(
                select(Subnet.netuid, Validator.uid, Validator.hotkey, Validator.total_alpha).join(
                    Subnet, Subnet.id == Validator.subnet_id
                )
            )
        ).all()
        # Every registered hotkey, with a permit or not.
        assert any(not v.validator_permit for v in truth.validators)
        assert sorted(tuple(v) for v in vals) == sorted(
            (v.netuid, v.uid, v.hotkey, v.total_alpha) for v in truth.validators
        )
        pos = (
            await conn.execute(
                select(CustodyPosition).where(CustodyPosition.block_number == finalized.number)
            )
        ).all()
        expected = [p for p in truth.positions if p.coldkey == CUSTODY]
        assert len(pos) == len(expected) == 1
        assert pos[0].stake == expected[0].stake and pos[0].stake >= 123 * 10**9 - 1
    # Candidates for every dynamic subnet, none for root.
    async with db.connect() as conn:
        listed = sorted((await conn.execute(select(Listing.netuid))).scalars())
    assert listed == sorted(n for n in truth.subnets if n != 0)
    assert netuid in listed


async def test_custody_stake_under_any_hotkey_is_indexed(
    app: FastAPI, devnet: DevnetThread, chain_client: AsyncChainClient, db: AsyncEngine
) -> None:
    """A custody coldkey's stake is found through `StakingHotkeys`, under validators and
    under hotkeys without a permit alike (a miner's, or whatever hotkey a depositor used)."""
    subnet = devnet.chain.subnets[2]
    miner = ss58(subnet.uids[-1])
    assert not subnet.permits[-1]
    validator_hotkey = ss58(subnet.uids[0])
    devnet.chain.seed_stake(CUSTODY, miner, 2, 7 * 10**9)
    devnet.chain.seed_stake(CUSTODY, validator_hotkey, 2, 5 * 10**9)
    devnet.chain.produce_blocks(3)
    indexer = make_indexer(chain_client, app)
    await indexer.catch_up()
    finalized = devnet.chain.finalized.number
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                select(CustodyPosition.hotkey, CustodyPosition.stake).where(
                    CustodyPosition.block_number == finalized
                )
            )
        ).all()
    found = dict(rows)
    assert set(found) == {miner, validator_hotkey}
    assert found[miner] == 7 * 10**9  # no validator: no emissions
    assert found[validator_hotkey] >= 5 * 10**9  # a validator's stake grows every epoch


async def test_restart_resumes_without_gaps_or_duplicates(
    app: FastAPI, devnet: DevnetThread, chain_client: AsyncChainClient, db: AsyncEngine
) -> None:
    first = make_indexer(chain_client, app)
    await first.catch_up()
    start = devnet.chain.finalized.number
    devnet.chain.produce_blocks(4)
    # A crash after one more block: a fresh indexer (new process) picks up from Postgres.
    await first.sync_once()
    second = make_indexer(chain_client, app)
    devnet.chain.produce_blocks(3)
    await second.catch_up()
    end = devnet.chain.finalized.number
    assert await _history_blocks(db) == list(range(start, end + 1))
    async with db.connect() as conn:
        per_block = (
            await conn.execute(
                select(SubnetHistory.block_number, func.count()).group_by(
                    SubnetHistory.block_number
                )
            )
        ).all()
    assert {count for _, count in per_block} == {len(devnet.chain.finalized.view.subnets)}


async def test_every_k_blocks(
    app: FastAPI, devnet: DevnetThread, chain_client: AsyncChainClient, db: AsyncEngine
) -> None:
    indexer = make_indexer(chain_client, app, every_blocks=3)
    await indexer.catch_up()
    start = devnet.chain.finalized.number
    devnet.chain.produce_blocks(7)
    await indexer.catch_up()
    assert await _history_blocks(db) == [start, start + 3, start + 6]


async def test_netuid_reuse_retires_the_old_token(
    app: FastAPI, devnet: DevnetThread, chain_client: AsyncChainClient, db: AsyncEngine
) -> None:
    indexer = make_indexer(chain_client, app)
    await indexer.catch_up()
    devnet.chain.deregister_and_reuse(3)
    devnet.chain.produce_blocks(3)
    await indexer.catch_up()
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                select(Subnet.status, Subnet.registered_at)
                .where(Subnet.netuid == 3)
                .order_by(Subnet.id)
            )
        ).all()
        candidates = (
            await conn.execute(select(func.count()).select_from(Listing).where(Listing.netuid == 3))
        ).scalar()
    assert [r.status for r in rows] == ["retired", "active"]
    assert rows[1].registered_at == devnet.chain.finalized.view.subnets[3].registered_at
    assert candidates == 2


async def test_a_faulty_node_does_not_stop_the_indexer(
    app: FastAPI, devnet: DevnetThread, chain_client: AsyncChainClient, db: AsyncEngine
) -> None:
    indexer = make_indexer(chain_client, app)
    stop = asyncio.Event()
    task = asyncio.create_task(indexer.run(stop))
    try:
        await _until(lambda: _last_block(db), lambda b: b == devnet.chain.finalized.number)
        devnet.server.inject_garbage(6, "invalid_json")
        devnet.chain.produce_blocks(2)
        await asyncio.sleep(0.5)
        devnet.server.drop_connections()
        devnet.server.inject_garbage(3, "wrong_shape")
        devnet.chain.produce_blocks(2)
        await asyncio.sleep(0.5)
        devnet.server.clear_faults()
        target = devnet.chain.finalized.number
        await _until(lambda: _last_block(db), lambda b: b == target, within=30)
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_ready_reports_indexer_lag(
    app: FastAPI, client: httpx.AsyncClient, devnet: DevnetThread, chain_client: AsyncChainClient
) -> None:
    from app.indexer.runner import readiness_check

    app.state.readiness.register("indexer", readiness_check(app.state.engine, 60))
    r = await client.get("/ready")
    assert r.status_code == 503 and r.json()["checks"]["indexer"]["ok"] is False
    await make_indexer(chain_client, app).catch_up()
    r = await client.get("/ready")
    assert r.status_code == 200, r.text
    check = r.json()["checks"]["indexer"]
    assert check["last_block"] == devnet.chain.finalized.number and check["lag_blocks"] == 0


async def _last_block(db: AsyncEngine) -> int | None:
    async with db.connect() as conn:
        return await conn.scalar(select(IndexerState.last_block))


async def _until(fetch, done, within: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await fetch()
        if value is not None and done(value):
            return
        assert asyncio.get_running_loop().time() < deadline, f"timed out at {value}"
        await asyncio.sleep(0.05)


async def test_trader_figures_from_the_devnet_over_rest(
    app: FastAPI, client: httpx.AsyncClient, devnet: DevnetThread, chain_client: AsyncChainClient
) -> None:
    """What the chain holds reaches the subnet endpoints: the epoch schedule, registration
    cost, switches, emissions; every hotkey with its nominators counted on the chain."""
    devnet.chain.produce_blocks(devnet.chain.config.tempo + 2)  # an epoch: dividends
    await make_indexer(chain_client, app).catch_up()
    finalized = devnet.chain.finalized
    truth = finalized.view.subnets[2]
    s = (await client.get("/v1/subnets/2")).json()
    assert s["next_epoch_block"] == truth.next_epoch_block
    assert s["blocks_to_next_epoch"] == truth.next_epoch_block - finalized.number  # type: ignore[operator]
    assert (s["epoch_index"], s["registration_cost"]) == (
        truth.epoch_index,
        str(truth.registration_cost),
    )
    assert s["transfer_enabled"] == truth.transfer_enabled
    assert s["emission_per_day"]["alpha"] == str(truth.alpha_out_emission * 7200)
    assert s["emission_per_day"]["chain_buys"] == str(truth.excess_tao * 7200)
    assert 0 < float(s["root_proportion"]) < 1
    vals = (await client.get("/v1/subnets/2/validators")).json()
    pools = devnet.chain.pools
    from app.chain.devnet.chain import to_account

    for v in vals:
        pool = pools.get((to_account(v["hotkey"]), 2))
        assert v["nominators"] == (sum(1 for x in pool.shares.values() if x) if pool else 0)
    assert any(not v["validator_permit"] for v in vals)
    assert any(v["apy"] is not None and float(v["apy"]) > 0 for v in vals)
