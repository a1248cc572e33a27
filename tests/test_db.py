"""The hot paths' pools plan by key, whatever the statistics say.

A prepared statement's generic plan is made once per connection from the statistics of that
moment; on a new database the tables are small then, and without `key_plans` Postgres picks
hash joins over sequential scans and keeps them, so every group reads the whole table as it
grows. The generic plans of the sequencer's and the nonce writer's statements, on the
(empty) test database, must look rows up by key.
"""

import re

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.service import _NONCE_SQL
from app.config import Settings
from app.db import AUTH_POOL, SEQUENCER_POOL, Pool, create_engine, request_pool
from app.kit.sql import Part, combine
from app.ledger.service import _WRITE_CTES
from app.orders.store import _ORDERS_CTES, _ORDERS_SELECT, _READ_NONCES_SQL, _READ_SQL


def _params(sql: str) -> int:
    return max(int(n) for n in re.findall(r"\$(\d+)", sql))


# The group's write as the sequencer sends it: the ledger's part, then the orders'.
_GROUP_WRITE, _ = combine(
    [
        Part(_WRITE_CTES, [None] * _params(_WRITE_CTES), "(SELECT count(*) FROM ins)"),
        Part(_ORDERS_CTES, [None] * _params(_ORDERS_CTES), _ORDERS_SELECT),
    ]
)

BIG_TABLES = ("orders", "ledger_holds", "ledger_transfers", "ledger_accounts", "api_key_nonces")
STATEMENTS = {
    "group read": (SEQUENCER_POOL, _READ_SQL),
    "group read with nonces": (SEQUENCER_POOL, _READ_NONCES_SQL),
    "group write": (SEQUENCER_POOL, _GROUP_WRITE),
    "nonces": (AUTH_POOL, _NONCE_SQL),
}


async def _generic_plan(url: str, settings: Settings, pool: Pool, sql: str) -> str:
    """The plan a connection of `pool` keeps for `sql` once it stops planning per call."""
    engine: AsyncEngine = create_engine(url, settings, pool)
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            await raw.execute("SET plan_cache_mode = force_generic_plan")
            await raw.execute("PREPARE hot AS " + sql)
            params = _params(sql)
            rows = await raw.fetch(f"EXPLAIN EXECUTE hot({', '.join(['NULL'] * params)})")
            await raw.execute("DEALLOCATE hot")
            return "\n".join(r[0] for r in rows)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("name", STATEMENTS)
async def test_hot_statements_look_rows_up_by_key_on_a_new_database(
    database_url: str, settings: Settings, db: AsyncEngine, name: str
) -> None:
    pool, sql = STATEMENTS[name]
    plan = await _generic_plan(database_url, settings, pool, sql)
    scanned = re.findall(r"Seq Scan on (\w+)", plan)
    assert not set(scanned) & set(BIG_TABLES), plan
    assert "Hash Join" not in plan and "Merge Join" not in plan, plan


async def test_the_request_pool_plans_as_postgres_likes(
    database_url: str, settings: Settings, db: AsyncEngine
) -> None:
    """What the pools above rule out is what Postgres chooses for the same statement by
    itself on small tables (the reason for `key_plans`)."""
    plan = await _generic_plan(database_url, settings, request_pool(settings), _GROUP_WRITE)
    assert re.search(r"Seq Scan on orders|Hash Join", plan), plan


@pytest.mark.parametrize("pool", [SEQUENCER_POOL, AUTH_POOL], ids=["sequencer", "auth"])
async def test_hot_pools_never_compile_plans(
    database_url: str, settings: Settings, db: AsyncEngine, pool: Pool
) -> None:
    """A disabled scan still counts in a plan's cost: the group read's passes the JIT
    threshold, and a server with LLVM (Debian's) would compile it on every group."""
    plan = await _generic_plan(database_url, settings, pool, _READ_SQL)
    cost = float(re.search(r"cost=[\d.]+\.\.([\d.]+)", plan).group(1))  # type: ignore[union-attr]
    engine = create_engine(database_url, settings, pool)
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            threshold = float(await raw.fetchval("SHOW jit_above_cost"))
            jit = await raw.fetchval("SHOW jit")
    finally:
        await engine.dispose()
    if pool is SEQUENCER_POOL:
        assert cost > threshold
    assert jit == "off"
