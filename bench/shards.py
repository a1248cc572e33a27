"""Sharding the book across sequencers: what a shared TAO balance costs, measured on Postgres.

Each sequencer writes groups: one transaction that locks the balance rows its commands
need (`FOR NO KEY UPDATE`, in id order, as the ledger does), moves the amounts and commits.
With markets split across shards, a user trading on two shards has one TAO row that both
lock. Three layouts, the same total work, measured in one run (`docs/sharding.md`):

- one writer: today's single sequencer (the baseline);
- shards, shared rows: N writers, each user's one TAO row locked by whichever shard needs it
  (market makers trade everywhere: `--overlap` of the users are active on every shard);
- shards, reservations: N writers, each with its own per-shard TAO row per user (a
  reservation refilled from the user's main balance by a transfer when it runs low), so
  shards never lock the same row; the refills are counted.

    .venv/bin/python -m bench.shards [--shards 2] [--users 200] [--seconds 8]
"""

import argparse
import asyncio
import random
import time

import asyncpg

from bench.common import fresh_database

GROUP = 32  # commands per group, as the sequencer's groups under load
REFILL = 1_000  # a reservation is refilled with this many orders' worth


async def _setup(dsn: str, shards: int, users: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_balances "
            "(id bigint PRIMARY KEY, amount bigint NOT NULL CHECK (amount >= 0))"
        )
        await conn.execute("TRUNCATE bench_balances")
        # ids: user u's main TAO row = u; its reservation on shard s = (s + 1) * 1e6 + u.
        rows = [(u, 10**15) for u in range(users)]
        rows += [((s + 1) * 1_000_000 + u, 0) for s in range(shards) for u in range(users)]
        await conn.copy_records_to_table("bench_balances", records=rows)
    finally:
        await conn.close()


async def _writer(
    dsn: str, shard: int, users: list[int], seconds: float, reserve: bool, counts: dict[str, int]
) -> None:
    conn = await asyncpg.connect(dsn)
    rng = random.Random(shard)
    left: dict[int, int] = {}  # orders left in each reservation
    deadline = time.perf_counter() + seconds
    try:
        while time.perf_counter() < deadline:
            picked = sorted({rng.choice(users) for _ in range(GROUP)})
            async with conn.transaction():
                if reserve:
                    refill = [u for u in picked if left.get(u, 0) == 0]
                    if refill:  # a transfer from the main balance: the only shared rows
                        ids = sorted(refill)
                        await conn.fetch(
                            "SELECT id FROM bench_balances WHERE id = ANY($1) "
                            "ORDER BY id FOR NO KEY UPDATE",
                            ids,
                        )
                        await conn.execute(
                            "UPDATE bench_balances SET amount = amount - $2 WHERE id = ANY($1)",
                            ids,
                            REFILL,
                        )
                        counts["refills"] += len(refill)
                        for u in refill:
                            left[u] = REFILL
                    ids = [(shard + 1) * 1_000_000 + u for u in picked]
                    for u in picked:
                        left[u] -= 1
                else:
                    ids = picked
                await conn.fetch(
                    "SELECT id FROM bench_balances WHERE id = ANY($1) ORDER BY id "
                    "FOR NO KEY UPDATE",
                    ids,
                )
                await conn.execute(
                    "UPDATE bench_balances SET amount = amount + 1 WHERE id = ANY($1)", ids
                )
            counts["groups"] += 1
    finally:
        await conn.close()


async def _run(
    dsn: str, shards: int, users: int, overlap: float, seconds: float, reserve: bool
) -> dict[str, int]:
    """`shards` writers; each owns its users, and `overlap` of all users trade on every one."""
    everyone = list(range(users))
    shared = everyone[: int(users * overlap)]
    own = everyone[len(shared) :]
    counts = {"groups": 0, "refills": 0}
    await asyncio.gather(
        *(_writer(dsn, s, shared + own[s::shards], seconds, reserve, counts) for s in range(shards))
    )
    return counts


async def main(args: argparse.Namespace) -> None:
    url = await fresh_database("exchange_bench_shards")
    dsn = url.replace("+asyncpg", "")
    await _setup(dsn, args.shards, args.users)
    single = await _run(dsn, 1, args.users, 1.0, args.seconds, False)
    shared = await _run(dsn, args.shards, args.users, args.overlap, args.seconds, False)
    reserved = await _run(dsn, args.shards, args.users, args.overlap, args.seconds, True)
    base = single["groups"] / args.seconds
    print(
        f"{args.users} users, {args.overlap:.0%} of them on every shard; groups of {GROUP}; "
        f"{args.seconds:g} s each"
    )
    print(f"one writer:                 {base:8.0f} groups/s")
    for name, r in (("shards, shared rows", shared), ("shards, reservations", reserved)):
        rate = r["groups"] / args.seconds
        extra = f", {r['refills']} refills" if r["refills"] else ""
        print(f"{args.shards} {name + ':':25} {rate:8.0f} groups/s ({rate / base:.2f}x{extra})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--overlap", type=float, default=0.2)
    parser.add_argument("--seconds", type=float, default=8.0)
    asyncio.run(main(parser.parse_args()))
