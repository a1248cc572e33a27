"""Test fixtures: a real Postgres (embedded by default), migrated with Alembic, and the app.

Isolation: every test that touches the database starts from empty tables (TRUNCATE after
each test), so the service runs exactly as in production, commits and all.
"""

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.chain.client import AsyncChainClient, ChainClient
from app.chain.devnet.chain import DevnetConfig
from app.chain.devnet.server import DevnetThread
from app.config import PROJECT_ROOT, Settings
from app.kit.embedded_pg import start_embedded_postgres, to_async_url, with_database
from app.kit.migrate import upgrade
from app.ledger.service import clear_account_cache
from app.main import create_app
from tests.signing import SignedClient, make_user_with_key

TEST_DB_NAME = "exchange_test"
SERVER_KEY = Fernet.generate_key().decode()


def _plain_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _recreate_schema(url: str) -> None:
    conn = await asyncpg.connect(_plain_url(url))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


async def _ensure_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(_plain_url(server_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url() -> str:
    """A migrated, empty database: TEST_DATABASE_URL if given, else the embedded server."""
    given = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if given:
        url = to_async_url(given)
    else:
        data = Path(os.environ.get("EXCHANGE_TEST_DATA_DIR", PROJECT_ROOT / ".data")) / "pg-test"
        server = to_async_url(start_embedded_postgres(data))
        asyncio.run(_ensure_database(server, TEST_DB_NAME))
        url = with_database(server, TEST_DB_NAME)
    asyncio.run(_recreate_schema(url))
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("data"),
        secret_key=SERVER_KEY,
        rate_limit_per_second=1000.0,
        rate_limit_burst=1000,
        refusal_rate_per_connection=0,  # in-process, every test is one "connection"
        log_json=False,
        indexer_enabled=False,
        custody_enabled=False,
    )


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


async def truncate_all(engine: AsyncEngine) -> None:
    """Back to the migrated state: every table empty but the seed rows, every sequence at 1.
    The tables that hold rows are emptied with DELETE, foreign-key and other triggers off
    (`session_replication_role = replica`, this transaction only): a TRUNCATE ... CASCADE
    of them made new files for nearly every table and index after every test, most of a
    test's own time. Every sequence restarts (an empty table may have used ids)."""
    async with engine.begin() as conn:
        tables = (
            await conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
        ).scalars()
        probe = " UNION ALL ".join(f"(SELECT '{t}' FROM \"{t}\" LIMIT 1)" for t in tables)
        held = (await conn.execute(text(probe))).scalars().all() if probe else []
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in held:
            await conn.execute(text(f'DELETE FROM "{table}"'))
        await conn.execute(
            text(
                "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c "
                "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"
            )
        )
        # The seed rows migrations insert.
        await conn.execute(
            text("INSERT INTO assets (code, name, netuid, decimals) VALUES ('TAO', 'TAO', NULL, 9)")
        )
    clear_account_cache()  # ids were restarted: cached ones would be stale


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The database in its migrated state, emptied again after the test."""
    clear_account_cache()
    try:
        yield engine
    finally:
        await truncate_all(engine)


@pytest.fixture
async def tx(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection in a transaction that is rolled back after the test: for services that
    need neither the sequencer nor other connections, much cheaper than TRUNCATE."""
    clear_account_cache()
    async with engine.connect() as conn:
        outer = await conn.begin()
        try:
            yield conn
        finally:
            await outer.rollback()
    clear_account_cache()  # ids cached from the rolled-back transaction are gone


@pytest.fixture
def tx_sessionmaker(tx: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions on `tx`: their commits are savepoints inside the rolled-back transaction."""
    return async_sessionmaker(
        bind=tx, join_transaction_mode="create_savepoint", expire_on_commit=False, autoflush=False
    )


@pytest.fixture
async def app(settings: Settings, database_url: str, db: AsyncEngine) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database_url=database_url)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
def signed(client: httpx.AsyncClient, app: FastAPI) -> "Iterator[SignedFactory]":
    yield SignedFactory(client, app)


class SignedFactory:
    """Makes users with keys and returns clients that sign as them."""

    def __init__(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        self.client = client
        self.app = app
        self._n = 0

    async def __call__(
        self, scopes: str = "read,trade,withdraw", email: str | None = None
    ) -> SignedClient:
        self._n += 1
        email = email or f"user{self._n}@example.com"
        key, secret, user_id = await make_user_with_key(self.app, email, scopes)
        return SignedClient(self.client, key, secret, user_id)


def fast_devnet(**config: object) -> Iterator[DevnetThread]:
    """A devnet on a loopback port that produces blocks only when told, two blocks in; for a
    module's own `devnet` fixture (`yield from fast_devnet(seed=..., subnets=...)`)."""
    options: dict[str, object] = {"block_time": None, "finality_lag": 1, "registration_interval": 0}
    with DevnetThread(DevnetConfig(**{**options, **config})) as dev:  # type: ignore[arg-type]
        dev.chain.produce_blocks(2)
        yield dev


@pytest.fixture
async def chain_client(devnet: DevnetThread) -> AsyncIterator[AsyncChainClient]:
    """The real client to the module's `devnet`, with short timeouts."""
    client = AsyncChainClient(ChainClient(devnet.url, timeout=2.0, max_attempts=2, backoff=0.05))
    yield client
    await client.close()
