"""What Postgres says about a test's own statements: the driver's error behind SQLAlchemy's,
and how many rows of a table the current transaction has read."""

from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError


def postgres_error(error: DBAPIError) -> asyncpg.PostgresError:
    cause = error.orig.__cause__ if error.orig is not None else None
    assert isinstance(cause, asyncpg.PostgresError), error
    return cause


async def rows_read(conn: Any, table: str) -> int:
    """Rows of `table` read so far in this transaction, by scans and by index lookups
    (`conn`: an AsyncConnection or AsyncSession)."""
    n = await conn.scalar(
        text(
            "SELECT seq_tup_read + idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relname = :t"
        ),
        {"t": table},
    )
    return int(n or 0)
