"""The migration chain is the schema: autogenerate finds nothing to add, and it can go
down to base and back up again."""

import asyncio

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.kit.embedded_pg import with_database
from app.kit.migrate import downgrade, head_revision, upgrade
from app.models import Base

SCRATCH = "exchange_migrations_test"


@pytest.fixture(scope="module")
def scratch_url(database_url: str) -> str:
    async def recreate() -> None:
        conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{SCRATCH}"')
        finally:
            await conn.close()

    asyncio.run(recreate())
    return with_database(database_url, SCRATCH)


def _diff(url: str) -> list[object]:
    async def run() -> list[object]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(
                        MigrationContext.configure(
                            sync, opts={"compare_type": True, "compare_server_default": True}
                        ),
                        Base.metadata,
                    )
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _tables(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
                return set(rows.scalars())
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_head_matches_the_models(scratch_url: str) -> None:
    upgrade(scratch_url)
    assert _diff(scratch_url) == []


def test_downgrade_to_base_and_upgrade_again(scratch_url: str) -> None:
    upgrade(scratch_url)
    model_tables = set(Base.metadata.tables)
    assert model_tables <= _tables(scratch_url)
    downgrade(scratch_url, "base")
    assert _tables(scratch_url) <= {"alembic_version"}
    upgrade(scratch_url)
    assert model_tables <= _tables(scratch_url)
    assert _diff(scratch_url) == []
    assert head_revision()
