"""Notices across processes: Postgres LISTEN/NOTIFY.

`notify(session, channel, payload)` announces something inside the caller's transaction, so
the notice is delivered only if (and when) that transaction commits, from whichever process
(the API, the CLI, the indexer). Every API process runs one `Listener`: it LISTENs on a
dedicated connection (not one of the pools') and hands each notice to its channel's
subscribers at once.

Notices sent while the listener is disconnected are lost: after every (re)connection, once
LISTEN is in place, each subscriber's `on_connect` catches up from the tables (what it
holds is checked again). Anything before that check is seen by it, anything after notified.
"""

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

log = logging.getLogger("app.notify")

APPLICATION_NAME = "exchange-listener"

OnNotice = Callable[[str], None]
OnConnect = Callable[[], Awaitable[None] | None]


async def notify(session: AsyncSession, channel: str, payload: str = "") -> None:
    """Announce `payload` on `channel`; Postgres delivers it when the transaction commits."""
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
    )


def listen_dsn(engine: AsyncEngine) -> str:
    """A libpq URL for asyncpg from the engine's URL (same server, database, options)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """LISTENs on every subscribed channel and calls its subscribers with each payload.

    The connection is watched (a termination callback, and `SELECT 1` every
    `health_interval` seconds for connections that die silently); when it drops, the listener
    reconnects with exponential backoff (`min_backoff` doubling up to `max_backoff`) and runs
    every `on_connect` again. A failing `on_connect` counts as a failed connection.
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_backoff: float = 0.1,
        max_backoff: float = 10.0,
        health_interval: float = 15.0,
        timeout: float = 10.0,
    ) -> None:
        self._dsn = dsn
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._health_interval = health_interval
        self._timeout = timeout
        self._on_notice: dict[str, list[OnNotice]] = {}
        self._on_connect: list[OnConnect] = []
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self.connections = 0  # successful (re)connections, for tests and logs

    def subscribe(
        self, channel: str, on_notice: OnNotice, on_connect: OnConnect | None = None
    ) -> None:
        """`on_notice(payload)` runs in the event loop for each notice (keep it quick:
        enqueue); `on_connect` after each (re)connection, LISTEN already in place. Subscribe
        before `start`."""
        self._on_notice.setdefault(channel, []).append(on_notice)
        if on_connect is not None:
            self._on_connect.append(on_connect)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def until_listening(self) -> None:
        """Returns once LISTEN is in place (wrap it in `asyncio.timeout`)."""
        await self._listening.wait()

    async def start(self, wait: float = 5.0) -> None:
        """Start listening; wait up to `wait` seconds for the first connection (if the
        database is not reachable yet, the listener keeps trying in the background)."""
        self._task = asyncio.create_task(self._run(), name="notify-listener")
        try:
            async with asyncio.timeout(wait):
                await self.until_listening()
        except TimeoutError:
            log.warning("notice listener not connected yet; retrying in the background")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = self._min_backoff
        while True:
            connections = self.connections
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connections > connections:  # it was connected: back off from scratch
                    delay = self._min_backoff
                log.warning(
                    "notice listener disconnected",
                    extra={"error": repr(exc), "retry_in": delay},
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)

    async def _listen(self) -> None:
        conn: Any = await asyncpg.connect(
            self._dsn,
            timeout=self._timeout,
            server_settings={"application_name": APPLICATION_NAME},
        )
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _: lost.set())
        try:
            for channel in self._on_notice:
                await conn.add_listener(channel, self._notified)
            for callback in self._on_connect:
                result = callback()
                if inspect.isawaitable(result):
                    await result
            self.connections += 1
            self._listening.set()
            log.info("notice listener connected", extra={"connections": self.connections})
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._health_interval)
                if not lost.is_set():
                    await conn.fetchval("SELECT 1", timeout=self._timeout)
            raise ConnectionError("the LISTEN connection was closed")
        finally:
            self._listening.clear()
            conn.terminate()

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        for callback in self._on_notice.get(channel, []):
            try:
                callback(payload)
            except Exception:
                log.exception("notice subscriber failed", extra={"channel": channel})
