"""One full indexer step from the devnet INTO Postgres: 128 subnets with validators and custody
stake, read through the real `AsyncChainClient` and written by `write_snapshot` in one
transaction, via `Indexer.sync_once` (exactly what the running indexer does per block).

Prints, for 8 and 128 subnets (to show the round trips do not grow with subnets):
- the median time of `sync_once` at a new finalized block (read + write + commit),
- the JSON-RPC round trips it took (the client's counter; the snapshot alone in brackets),
- the median time of the chain read alone at a new block, so the write's share is visible,
and two baselines measured in the same run: one single-row INSERT + commit on the same
Postgres, and one `system_chain` JSON-RPC round trip to the same devnet.

    .venv/bin/python -m bench.indexer_snapshot [--subnets 8,128] [--runs 7]

Uses DATABASE_URL if set (a scratch database `exchange_bench_indexer` is created beside it),
else the embedded Postgres in .data/pg-bench.
"""

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.chain.client import AsyncChainClient, ChainClient
from app.chain.devnet.chain import DevnetConfig
from app.chain.devnet.server import DevnetThread
from app.indexer.runner import Indexer, IndexerOptions
from app.main import build_sync_listeners
from app.models import CustodyPosition, SubnetHistory, Validator
from bench.chain_snapshot import custody_coldkeys, seed_custody
from bench.common import fresh_database, migrate

BENCH_DB = "exchange_bench_indexer"


@dataclass
class Figures:
    subnets: int
    validators: int
    positions: int
    history_rows: int
    sync_median: float
    sync_round_trips: list[int]
    read_median: float
    read_round_trips: int
    insert_commit: float
    rpc_round_trip: float


async def _median(fn: Callable[[], Awaitable[object]], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def _count(engine: AsyncEngine, model: type, block: int | None = None) -> int:
    query = select(func.count()).select_from(model)
    if block is not None:
        query = query.where(model.block_number == block)  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        return int(await conn.scalar(query) or 0)


async def measure(subnets: int, runs: int) -> Figures:
    url = await fresh_database(BENCH_DB)
    await asyncio.to_thread(migrate, url)
    engine = create_async_engine(url, pool_size=2)
    config = DevnetConfig(seed=1, subnets=subnets, block_time=None, finality_lag=0)
    try:
        with DevnetThread(config) as dev:
            custody = custody_coldkeys()
            seed_custody(dev, custody)
            client = AsyncChainClient(ChainClient(dev.url))
            options = IndexerOptions(chain="bench", custody_coldkeys=tuple(custody))
            indexer = Indexer(client, engine, options, build_sync_listeners([]))
            try:
                # Warm-up: connect, load metadata, first block (creates every subnet row and
                # listing candidate, a one-off not repeated per block).
                await indexer.sync_once()
                sync_times, trips = [], []
                for _ in range(runs):
                    dev.chain.produce_block()  # a new finalized block: nothing cached for it
                    before = client.sync.round_trips
                    started = time.perf_counter()
                    result = await indexer.sync_once()
                    sync_times.append(time.perf_counter() - started)
                    trips.append(client.sync.round_trips - before)
                    assert result is not None and not result.skipped
                block = result.block_number
                validators = await _count(engine, Validator)
                positions = await _count(engine, CustodyPosition, block)
                history = await _count(engine, SubnetHistory, block)

                read_times, read_trips = [], 0
                for _ in range(runs):
                    dev.chain.produce_block()
                    started = time.perf_counter()
                    snap = await client.snapshot(coldkeys=custody)
                    read_times.append(time.perf_counter() - started)
                    read_trips = snap.rpc_round_trips
                rpc = await _median(lambda: client.rpc("system_chain"), runs * 5)
            finally:
                await client.close()

        async with engine.connect() as conn:
            await conn.execute(text("CREATE TABLE bench_baseline (id bigserial PRIMARY KEY)"))
            await conn.commit()

            async def insert_commit() -> None:
                await conn.execute(text("INSERT INTO bench_baseline DEFAULT VALUES"))
                await conn.commit()

            for _ in range(20):
                await insert_commit()
            insert = await _median(insert_commit, 200)
    finally:
        await engine.dispose()
    return Figures(
        subnets=subnets,
        validators=validators,
        positions=positions,
        history_rows=history,
        sync_median=statistics.median(sync_times),
        sync_round_trips=trips,
        read_median=statistics.median(read_times),
        read_round_trips=read_trips,
        insert_commit=insert,
        rpc_round_trip=rpc,
    )


def report(f: Figures, runs: int) -> None:
    trips = sorted(set(f.sync_round_trips))
    print(
        f"== {f.subnets} dynamic subnets (+ root): {f.validators} validators, "
        f"{f.positions} custody positions, {f.history_rows} history rows per block"
    )
    print(f"  indexer sync_once (read + write + commit), median of {runs}: {f.sync_median:.3f} s")
    print(
        f"    JSON-RPC round trips per sync: {'/'.join(map(str, trips))} "
        f"(finalized head + snapshot; the snapshot alone: {f.read_round_trips})"
    )
    print(f"  chain read alone at a new block, median of {runs}: {f.read_median:.3f} s")
    print(f"    so the Postgres write + commit: ~{f.sync_median - f.read_median:.3f} s")
    print(f"  baseline: one single-row INSERT + commit: {f.insert_commit * 1000:.2f} ms")
    print(f"  baseline: one system_chain round trip:    {f.rpc_round_trip * 1000:.2f} ms")
    print(f"  ratio sync / INSERT+commit: {f.sync_median / f.insert_commit:.0f}x")
    print(f"  ratio sync / RPC round trip: {f.sync_median / f.rpc_round_trip:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subnets", default="8,128", help="comma list of subnet counts")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"database: {BENCH_DB} on {os.environ.get('DATABASE_URL') or 'the embedded server'}")
    figures = []
    for n in (int(x) for x in args.subnets.split(",")):
        figures.append(asyncio.run(measure(n, args.runs)))
        report(figures[-1], args.runs)
    if len(figures) > 1:
        small, large = figures[0], figures[-1]
        print(
            f"round trips {small.subnets} -> {large.subnets} subnets: "
            f"{small.read_round_trips} -> {large.read_round_trips} (snapshot), "
            f"{max(small.sync_round_trips)} -> {max(large.sync_round_trips)} (sync): "
            "constant in the number of subnets"
        )


if __name__ == "__main__":
    main()
