"""The order sequencer alone, without HTTP: how fast it writes orders durably, and whether that
decays as history grows.

32 tasks in this process each submit one limit order at a time (within 5 ticks of the mid,
about half trade: the orders of `bench.orders_http`) straight to a `Sequencer`, for
`--seconds`. Baseline, in the same run and process: 32 tasks each doing one INSERT and
commit at a time over asyncpg (what durability costs without group commit). Prints both
rates, the order rate per 10 s window (first and last: does it decay?), this process' CPU
per order, the sequencer's time per group by phase, the ratio, and `ledger check`.

    .venv/bin/python -m bench.sequencer [--seconds 60] [--baseline-seconds 10]

Uses DATABASE_URL's server if set, else the embedded Postgres in .data/bench.
"""

import argparse
import asyncio
import resource
import time

import asyncpg
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.config import Settings
from app.db import SEQUENCER_POOL, create_engine
from app.kit import metrics
from app.kit.heap import settle
from app.ledger.check import check_ledger
from app.orders.commands import PlaceOrders
from app.orders.schemas import OrderIn
from app.orders.sequencer import Sequencer
from bench.common import fresh_database, migrate
from bench.orders_http import limit_near_mid, seed_market

TASKS = 32
WINDOW = 10.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _baseline(url: str, seconds: float) -> float:
    """INSERT+commit per write, 32 at a time: writes per second."""
    dsn = url.replace("+asyncpg", "")
    pool = await asyncpg.create_pool(dsn, min_size=TASKS, max_size=TASKS)
    await pool.execute("CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, body text)")
    done = 0
    stop = time.monotonic() + seconds

    async def writer() -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while time.monotonic() < stop:
                async with conn.transaction():
                    await conn.fetchval(
                        "INSERT INTO bench_baseline (body) VALUES ($1) RETURNING id", "x" * 80
                    )
                done += 1

    await asyncio.gather(*(writer() for _ in range(TASKS)))
    await pool.close()
    return done / seconds


async def _orders(url: str, seconds: float) -> tuple[float, list[float], float, dict[str, float]]:
    """Orders per second, per window, CPU per order, ms per group by phase."""
    engine = create_engine(url, Settings(), SEQUENCER_POOL)  # the app's sequencer pool
    sequencer = Sequencer(engine, [])
    await sequencer.start()
    settle()
    done = 0
    stop = time.monotonic() + seconds

    make = limit_near_mid(5)

    async def trader(user_id: int) -> None:
        nonlocal done
        n = 0
        while time.monotonic() < stop:
            _, _, body = make(user_id, n)
            order = OrderIn.model_validate(body)
            await sequencer.submit(PlaceOrders(user_id, [order.to_request()]))
            done += 1
            n += 1

    windows: list[float] = []

    async def sample() -> None:
        last = 0
        while True:
            await asyncio.sleep(WINDOW)
            windows.append((done - last) / WINDOW)
            last = done

    phases_before = _phases()
    groups_before = sequencer.groups_committed
    cpu, started = _cpu(), time.monotonic()
    sampler = asyncio.create_task(sample())
    await asyncio.gather(*(trader(user_id) for user_id in range(1, TASKS + 1)))
    elapsed, cpu = time.monotonic() - started, _cpu() - cpu
    sampler.cancel()
    groups = max(1, sequencer.groups_committed - groups_before)
    phases = {k: (v - phases_before.get(k, 0.0)) * 1000 / groups for k, v in _phases().items()}
    phases["orders per group"] = done / groups
    await sequencer.stop()
    await engine.dispose()
    return done / elapsed, windows, cpu / max(1, done), phases


def _phases() -> dict[str, float]:
    return {
        sample.labels["phase"]: sample.value
        for metric in metrics.SEQUENCER_GROUP_SECONDS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }


async def main(seconds: float, baseline_seconds: float) -> None:
    baseline_url = await fresh_database("exchange_bench_sequencer_baseline")
    url = await fresh_database("exchange_bench_sequencer")
    await asyncio.to_thread(migrate, url)
    await seed_market(url, TASKS, Fernet.generate_key().decode())
    insert = await _baseline(baseline_url, baseline_seconds)
    rate, windows, cpu, phases = await _orders(url, seconds)
    engine = create_async_engine(url)
    async with async_sessionmaker(engine)() as session:
        check = await check_ledger(session)
    await engine.dispose()
    print(f"{TASKS} tasks, one command each at a time; baseline {baseline_seconds:g} s, "
          f"orders {seconds:g} s")  # fmt: skip
    print(f"INSERT+commit        {insert:8.0f} writes/s")
    print(f"sequencer            {rate:8.0f} orders/s   CPU {cpu * 1e6:.0f} us per order "
          f"(this process: the sequencer and its 32 submitters)")  # fmt: skip
    print(f"per {WINDOW:g} s: " + " ".join(f"{w:.0f}" for w in windows))
    if len(windows) >= 2:
        print(f"last window / first window: {windows[-1] / max(1.0, windows[0]):.2f}")
    print("ms per group: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(phases.items())))
    print(f"ratio sequencer / INSERT+commit: {rate / insert:.2f}")
    print(check.render())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--baseline-seconds", type=float, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.baseline_seconds))
