"""Database engine and sessions. Services flush; the request or job boundary commits."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings
from app.kit.embedded_pg import start_embedded_postgres, to_async_url


def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started on first use and migrated to
    head: the service owns that database, so any command may bring it up to date)."""
    if settings.database_url:
        return to_async_url(settings.database_url)
    from app.kit.migrate import upgrade

    url = to_async_url(start_embedded_postgres(settings.embedded_db_dir))
    upgrade(url)
    return url


@dataclass(frozen=True, slots=True)
class Pool:
    """One connection pool: each kind of work has its own (bulkheads), so that requests of
    one kind can never take the connections another needs (the sequencer's, above all)."""

    size: int
    overflow: int
    statement_timeout_seconds: float
    # Plans by key only: no sequential scan, hash or merge join (see `KEY_PLANS`).
    key_plans: bool = False


# A hot path's statements touch a few rows by key, in batches of arrays (`unnest`). Their
# prepared plans are made once per connection, from the statistics of that moment: on tables
# that were still small then (a new database; before autovacuum's next analyze), Postgres
# picks a hash join over a sequential scan and keeps it, so every batch then reads the whole
# table: a group's write slowed from 5 to 11 ms over the first minute of a bench. Ruling out
# the scan-based methods for these pools' sessions leaves index lookups, whatever the
# statistics say (tables without a usable index are still scanned). A disabled method still
# counts in a plan's cost, which then passes JIT compilation's threshold on a server built
# with LLVM (Debian's Postgres: 160 ms of compiling per group read): no JIT either (these
# statements run in well under a millisecond).
KEY_PLANS = {
    "enable_seqscan": "off",
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
    "jit": "off",
}

# Fixed small pools for the single-task workers; requests get theirs from the settings.
SEQUENCER_POOL = Pool(2, 0, 60.0, key_plans=True)  # one group at a time, plus a rebuild
AUTH_POOL = Pool(2, 2, 10.0, key_plans=True)  # key lookups and the group-committed nonces
INDEXER_POOL = Pool(2, 1, 120.0)  # one block's transaction at a time
CUSTODY_POOL = Pool(2, 1, 60.0)  # the custody worker: one block or one transaction at a time
CLI_POOL = Pool(2, 2, 0)  # no statement timeout for operator commands


def request_pool(settings: Settings) -> Pool:
    return Pool(
        settings.db_pool_size, settings.db_max_overflow, settings.db_statement_timeout_seconds
    )


def create_engine(url: str, settings: Settings, pool: Pool | None = None) -> AsyncEngine:
    """Every wait is bounded: a pooled connection within `db_pool_timeout_seconds`, a new
    connection within `db_connect_timeout_seconds`, a statement within the pool's timeout
    (server side, and on the client as a backstop), an idle transaction within a minute."""
    pool = pool or request_pool(settings)
    server_settings = {"idle_in_transaction_session_timeout": "60000"}
    if pool.key_plans:
        server_settings |= KEY_PLANS
    if pool.statement_timeout_seconds:
        server_settings["statement_timeout"] = str(int(pool.statement_timeout_seconds * 1000))
    return create_async_engine(
        url,
        pool_size=pool.size,
        max_overflow=pool.overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=False,
        connect_args={
            "timeout": settings.db_connect_timeout_seconds,
            "command_timeout": (pool.statement_timeout_seconds + 5)
            if pool.statement_timeout_seconds
            else None,
            "server_settings": server_settings,
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Request-scoped session: commits after the endpoint returns, before the response is
    sent (declare it with `scope="function"`); rolls back on any error."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


@asynccontextmanager
async def autocommit_driver(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A pooled connection's asyncpg connection outside any transaction: a statement
    commits by itself, so a one-statement write is one round trip (no BEGIN, no COMMIT)."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        yield raw.driver_connection


async def driver(session: AsyncSession) -> Any:
    """The session's asyncpg connection, inside the session's (started) transaction: for
    the hot paths (the order sequencer, the ledger's batches), where SQLAlchemy's own
    per-statement overhead is about as large as a local round trip."""
    raw = await (await session.connection()).get_raw_connection()
    adapted: Any = raw.dbapi_connection
    if getattr(adapted, "_transaction", False) is None:
        await adapted._start_transaction()
    driver: Any = raw.driver_connection
    if not driver.is_in_transaction():  # pragma: no cover - another SQLAlchemy version
        await session.execute(text("SELECT 1"))
    return driver
