"""The database's failures told apart from bugs, on errors a real Postgres raises: a lost
connection is a 503 however it reaches the handler (raw asyncpg, under SQLAlchemy's error,
inside a task group's exception group, as the context of a later error, however deep), a value Postgres
refuses is a 400, and anything else is left to be a 500."""

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.db import autocommit_driver
from app.kit.dberrors import DatabaseUnavailable, InvalidValue, classify, unavailable


async def _lost_connection(engine: AsyncEngine) -> BaseException:
    """What a statement raises on a connection whose backend is terminated under it."""
    with pytest.raises(Exception) as raised:
        async with autocommit_driver(engine) as victim:
            pid = await victim.fetchval("SELECT pg_backend_pid()")
            async with engine.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await victim.fetchval("SELECT 1")
    return raised.value


async def test_a_terminated_connection_is_unavailable_however_it_is_wrapped(
    database_url: str,
) -> None:
    # One pooled connection and no pre-ping: what is pooled again is what is used next.
    engine = create_async_engine(database_url, pool_size=1, max_overflow=1)
    try:
        lost = await _lost_connection(engine)
        assert isinstance(unavailable(lost), DatabaseUnavailable), repr(lost)
        async with autocommit_driver(engine) as conn:  # the lost one was not pooled again
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await engine.dispose()

    group = ExceptionGroup("task group", [RuntimeError("a sibling"), lost])
    assert isinstance(classify(group), DatabaseUnavailable)

    later = RuntimeError("while cleaning up")
    later.__context__ = lost
    assert isinstance(classify(later), DatabaseUnavailable)


async def test_a_chain_deeper_than_sixteen_still_finds_the_cause() -> None:
    cause: BaseException = asyncpg.ConnectionDoesNotExistError("connection was closed")
    for depth in range(30):
        outer = RuntimeError(f"layer {depth}")
        outer.__context__ = cause
        cause = outer
    assert isinstance(classify(cause), DatabaseUnavailable)


async def test_a_refused_value_is_a_400_and_a_bug_is_none(db: AsyncEngine) -> None:
    async with autocommit_driver(db) as conn:
        with pytest.raises(asyncpg.PostgresError) as raised:
            await conn.fetchval("SELECT CAST(9223372036854775807 AS bigint) + 1")
    assert isinstance(classify(raised.value), InvalidValue)
    assert classify(ValueError("a bug")) is None
    assert classify(asyncio.CancelledError()) is None
