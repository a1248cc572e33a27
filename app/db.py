"""Database engine and sessions. Services flush; the request or job boundary commits."""

from collections.abc import AsyncIterator

from fastapi import Request
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


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=False,
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
