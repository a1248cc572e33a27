"""Shared bench plumbing: a fresh, migrated database and latency statistics."""

import os
import statistics

import asyncpg

from app.config import PROJECT_ROOT
from app.kit.embedded_pg import start_embedded_postgres, to_async_url, with_database
from app.kit.migrate import upgrade


async def fresh_database(name: str) -> str:
    """DATABASE_URL's server (else the embedded one in .data/bench): database `name`,
    dropped, re-created and migrated to head. Returns its SQLAlchemy URL."""
    given = os.environ.get("DATABASE_URL")
    server = to_async_url(given or start_embedded_postgres(PROJECT_ROOT / ".data" / "bench"))
    conn = await asyncpg.connect(server.replace("+asyncpg", ""))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = with_database(server, name)
    return url


def migrate(url: str) -> None:
    upgrade(url)


def percentile(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def describe(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, mean {statistics.fmean(samples) * 1000:.2f} ms"
