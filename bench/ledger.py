"""Ledger throughput: 4-leg trade batches per second against Postgres.

Baseline, measured in the same run on the same database and stack (SQLAlchemy async +
asyncpg, one connection, sequential): one single-row INSERT per transaction. Then:
- one 4-leg batch per transaction (`apply_batch` + commit),
- group commit: many 4-leg batches per transaction (the sequencer's mode).

    .venv/bin/python -m bench.ledger [--seconds 3] [--group 64]

Uses DATABASE_URL if set (a scratch database `exchange_bench` is created beside it), else
the embedded Postgres in .data/bench.
"""

import argparse
import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.ledger import service as L
from bench.common import fresh_database, migrate

BENCH_DB = "exchange_bench"


async def _timed(seconds: float, step: Callable[[], Awaitable[int]]) -> tuple[int, float]:
    """Run `step` (returns units done) until `seconds` pass; (units, elapsed)."""
    for _ in range(20):  # warm-up: prepared statements, caches
        await step()
    units, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        units += await step()
    return units, elapsed


async def run(url: str, seconds: float, group: int) -> None:
    engine = create_async_engine(url, pool_size=2)
    maker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    async with maker() as s:
        await s.execute(text("CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, v bigint)"))
        await L.ensure_asset(s, "TAO")
        await L.ensure_asset(s, "SN1", netuid=1)
        buyer, seller = [
            int(await s.scalar(text(f"INSERT INTO users (email) VALUES ('{n}@b') RETURNING id")))
            for n in ("buyer", "seller")
        ]
        await s.commit()
    async with maker() as s:
        acc = {
            "b_tao": await L.get_account_id(s, buyer, "TAO", "available"),
            "s_tao": await L.get_account_id(s, seller, "TAO", "available"),
            "s_sn": await L.get_account_id(s, seller, "SN1", "available"),
            "b_sn": await L.get_account_id(s, buyer, "SN1", "available"),
            "f_tao": await L.system_account_id(s, "TAO", "fees"),
            "f_sn": await L.system_account_id(s, "SN1", "fees"),
        }
        big = 10**17
        await L.apply_batch(
            s,
            [
                L.TransferSpec(
                    "fund:tao",
                    await L.system_account_id(s, "TAO", "custody"),
                    acc["b_tao"],
                    big,
                    "deposit",
                ),
                L.TransferSpec(
                    "fund:sn",
                    await L.system_account_id(s, "SN1", "custody"),
                    acc["s_sn"],
                    big,
                    "deposit",
                ),
            ],
        )
        await s.commit()

    ids = itertools.count()

    def trade() -> list[L.TransferSpec]:
        n = next(ids)
        ref = f"fill:{n}"
        return [
            L.TransferSpec(f"{n}:q", acc["b_tao"], acc["s_tao"], 3_000_000, "trade", ref),
            L.TransferSpec(f"{n}:b", acc["s_sn"], acc["b_sn"], 100_000_000, "trade", ref),
            L.TransferSpec(f"{n}:fq", acc["b_tao"], acc["f_tao"], 1_500, "fee", ref),
            L.TransferSpec(f"{n}:fb", acc["s_sn"], acc["f_sn"], 50_000, "fee", ref),
        ]

    async def phase(step: Callable[[AsyncSession], Awaitable[int]]) -> tuple[int, float]:
        # Each phase starts alike: vacuumed, analyzed tables and a fresh connection (so no
        # phase inherits the previous one's dead tuples or cached plans).
        await engine.dispose()
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE ledger_accounts, ledger_transfers"))
        async with maker() as session:
            return await _timed(seconds, lambda: step(session))

    async def baseline(s: AsyncSession) -> int:
        await s.execute(text("INSERT INTO bench_baseline (v) VALUES (:v)"), {"v": 1})
        await s.commit()
        return 1

    async def one_batch(s: AsyncSession) -> int:
        await L.apply_batch(s, trade())
        await s.commit()
        return 1

    async def grouped(s: AsyncSession) -> int:
        for _ in range(group):
            await L.apply_batch(s, trade())
        await s.commit()
        return group

    base_n, base_t = await phase(baseline)
    one_n, one_t = await phase(one_batch)
    grp_n, grp_t = await phase(grouped)
    await engine.dispose()
    base = base_n / base_t
    one = one_n / one_t
    grp = grp_n / grp_t
    print(f"database: {url.rsplit('@', 1)[-1]}")
    print(f"baseline  single-row INSERT per commit : {base:10.0f} commits/s")
    print(
        f"ledger    one 4-leg batch per commit   : {one:10.0f} batches/s "
        f"({4 * one:.0f} transfers/s)  ratio to baseline {one / base:.2f}"
    )
    print(
        f"ledger    {group} 4-leg batches per commit : {grp:10.0f} batches/s "
        f"({4 * grp:.0f} transfers/s)  ratio to baseline {grp / base:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--group", type=int, default=64)
    args = parser.parse_args()
    url = asyncio.run(fresh_database(BENCH_DB))
    migrate(url)
    asyncio.run(run(url, args.seconds, args.group))


if __name__ == "__main__":
    main()
