"""Database failures a client is not to blame for, told apart from bugs, for every
surface's error handler: while Postgres is down, restarting or saturated, clients get `503`
+ `Retry-After` (`unavailable`), never a 500; a value Postgres refuses as data (SQLSTATE
class 22: a defence in depth behind the edge validation of `app.kit.inputs`) is a 400
(`invalid_value`)."""

import asyncpg
from sqlalchemy import exc as sa_exc

from app.kit.errors import AppError, BadRequest, ServiceUnavailable

# SQLSTATE classes and codes that mean "the database cannot serve now", not "your input".
_UNAVAILABLE_PREFIXES = ("08", "53", "57P")  # connection, resources, operator intervention
_BUSY_CODES = ("57014", "55P03")  # statement timeout (query_canceled), lock_not_available


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"


class DatabaseBusy(ServiceUnavailable):
    code = "database_busy"


class InvalidValue(BadRequest):
    code = "invalid_value"


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it came from: the driver's error under SQLAlchemy's (`orig`), causes,
    contexts and the members of exception groups (a task group's), nearest first."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 64:
        e = todo.pop(0)
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo.extend([getattr(e, "orig", None), e.__cause__, e.__context__])
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
    return seen


def classify(exc: BaseException) -> AppError | None:
    """The 503 or 400 for `exc`, or None for a bug (let it be a 500, and logged)."""
    return unavailable(exc) or invalid_value(exc)


def invalid_value(exc: BaseException) -> InvalidValue | None:
    for e in _causes(exc):
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        client_side = isinstance(e, asyncpg.InterfaceError) and isinstance(e, ValueError)
        if client_side or (isinstance(state, str) and state.startswith("22")):
            return InvalidValue("the database refused a value of this request as invalid")
    return None


def unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 for a failure of the database (or of the way to it), or None for anything
    else (a bug: let it be a 500 and be logged)."""
    if isinstance(exc, ServiceUnavailable):
        return exc
    for e in _causes(exc):
        if isinstance(e, sa_exc.TimeoutError):  # no pooled connection within pool_timeout
            return DatabaseBusy("the database is saturated; retry shortly", retry_after=1)
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return DatabaseUnavailable("the database connection was lost; retry", retry_after=2)
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if isinstance(state, str):
            if state in _BUSY_CODES:
                return DatabaseBusy("the database did not answer in time; retry", retry_after=1)
            if state.startswith(_UNAVAILABLE_PREFIXES):
                return DatabaseUnavailable("the database is unavailable; retry", retry_after=2)
        if _connection_failed(e):
            return DatabaseUnavailable("the database is unavailable; retry", retry_after=2)
    return None


def _connection_failed(e: BaseException) -> bool:
    """The way to the database failed: refused or reset (OSError), closed by the server
    (asyncpg's connection errors, its "connection is closed"; not its ValueErrors, which are
    bad input such as a lone surrogate), or left in a state the driver cannot go on from
    (InternalClientError: a message it did not expect, such as a backend's FATAL at a
    shutdown or termination read before the socket's close)."""
    if isinstance(e, asyncpg.PostgresConnectionError | OSError | asyncpg.InternalClientError):
        return True
    return (
        isinstance(e, asyncpg.InterfaceError)
        and not isinstance(e, ValueError)
        and "closed" in str(e)
    )
