"""Which sequencer is active: the one holding a Postgres advisory lock, with a fencing token.

Any number of sequencer processes start; one gets the lock (session-level, on a connection
of its own), the others try again every `poll` seconds. The lock goes with its connection,
so a leader that dies (or loses its connection) frees it at once and a standby takes over.

Fencing: on taking over, the new leader increments `sequencer_fence.token`; every group's
transaction first reads the token `FOR SHARE` and goes on only if it is the leader's own
(`check`). The increment waits for a group in flight, and a group after it sees another
token: an old leader that is still running (a lost lock connection) can never commit again.
It also watches its lock connection and stops the process when it is lost.
"""

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.bus.errors import NotLeader
from app.kit.notify import listen_dsn

log = logging.getLogger("app.bus")

LOCK_KEY = 7_368_217_001  # pg_advisory_lock key of the active sequencer


def _exit_process() -> None:
    log.critical("lost the sequencer leadership; stopping at once")
    os._exit(70)


class Leadership:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        poll_seconds: float = 0.25,
        watch_seconds: float = 1.0,
        on_lost: Callable[[], None] = _exit_process,
    ) -> None:
        self.dsn = listen_dsn(engine)
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.watch_seconds = watch_seconds
        self.on_lost = on_lost
        self.token: int | None = None
        self._conn: asyncpg.Connection | None = None
        self._watch: asyncio.Task[None] | None = None

    @property
    def leader(self) -> bool:
        return self.token is not None

    async def acquire(self) -> int:
        """Wait until this process is the active sequencer; its fencing token."""
        while True:
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("standby: database unreachable", extra={"error": repr(exc)})
                await asyncio.sleep(self.poll_seconds)
                continue
            try:
                while True:  # polled: Postgres cannot notify a lock's release
                    if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
                        break
                    await asyncio.sleep(self.poll_seconds)
                token: int = await conn.fetchval(
                    "INSERT INTO sequencer_fence (id, token) VALUES (1, 1) "
                    "ON CONFLICT (id) DO UPDATE SET token = sequencer_fence.token + 1 "
                    "RETURNING token"
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    await conn.close()
                raise
            self._conn, self.token = conn, token
            self._watch = asyncio.create_task(self._watch_lock(), name="sequencer-lock-watch")
            log.info("this sequencer is active", extra={"token": token})
            return token

    async def check(self, session: AsyncSession) -> None:
        """In a group's transaction: refuse to go on unless this is still the leader."""
        current = await session.scalar(
            text("SELECT token FROM sequencer_fence WHERE id = 1 FOR SHARE")
        )
        if self.token is None or current != self.token:
            self.on_lost()
            raise NotLeader("this sequencer is no longer the active one")

    async def _watch_lock(self) -> None:
        assert self._conn is not None
        while True:
            await asyncio.sleep(self.watch_seconds)
            try:
                await asyncio.wait_for(self._conn.fetchval("SELECT 1"), self.watch_seconds * 5)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.token = None
                self.on_lost()
                return

    async def release(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
        self.token = None
