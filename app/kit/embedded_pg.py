"""The embedded default database: a Postgres server run by the `pgserver` package.

pgserver keeps one server per data folder and stops it (atexit) when the last process that
asked for it exits, so SIGTERM on the service stops Postgres cleanly and the next start
reuses the data.
"""

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or attach to) the embedded server for `data_dir`; return a libpq URI."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        from pgserver import postgres_server

        server: Any = postgres_server.get_server(data_dir, cleanup_mode="stop")
    uri: str = server.get_uri()
    log.info("embedded postgres ready", extra={"data_dir": str(data_dir)})
    return uri


def to_async_url(url: str) -> str:
    """Turn a libpq-style URL into one for SQLAlchemy's asyncpg dialect."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"unsupported database URL scheme: {url.split('://', 1)[0]}")


def with_database(url: str, database: str) -> str:
    """Same server and options, another database name."""
    scheme, rest = url.split("://", 1)
    netloc, _, path = rest.partition("/")
    _, sep, query = path.partition("?")
    return f"{scheme}://{netloc}/{database}{sep}{query}"
