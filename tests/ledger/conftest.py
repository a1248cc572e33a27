"""Ledger fixtures: assets TAO and SN1, users made directly, a session on the test engine."""

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.ledger.service import clear_account_cache, ensure_asset


@pytest.fixture(autouse=True)
def _fresh_account_cache() -> None:
    # Tables are truncated (identities restarted) between tests: cached ids would be stale.
    clear_account_cache()


@pytest.fixture
def sessionmaker(db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(db, expire_on_commit=False, autoflush=False)


@pytest.fixture
async def assets(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as s:
        await ensure_asset(s, "TAO", "TAO")
        await ensure_asset(s, "SN1", "Apex alpha", netuid=1)
        await s.commit()


MakeUser = Callable[[], Awaitable[int]]


@pytest.fixture
def make_user(sessionmaker: async_sessionmaker[AsyncSession]) -> MakeUser:
    n = 0

    async def make() -> int:
        nonlocal n
        n += 1
        async with sessionmaker() as s:
            uid = await s.scalar(
                text("INSERT INTO users (email) VALUES (:e) RETURNING id"),
                {"e": f"ledger{n}@example.com"},
            )
            await s.commit()
            return int(uid)

    return make


@pytest.fixture
async def session(
    sessionmaker: async_sessionmaker[AsyncSession], assets: None
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as s:
        yield s


async def count(s: AsyncSession, table: str) -> int:
    return int(await s.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
