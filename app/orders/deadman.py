"""The dead man's switch (Kraken's `CancelAllOrdersAfter`): a client that stops pushing its
deadline back has every open order of its user cancelled when the deadline passes.

One deadline per API key, stored in Postgres (`cancel_after`), so a restart forgets none:
on start-up the switch fires every deadline that passed meanwhile. A background task in
the serve process (`DeadMansSwitch`) sleeps until the next deadline (at most `poll`
seconds, for deadlines other processes set) and submits a cancel-all through the order
sequencer, like any client would; the row goes once the cancel has committed (if the
deadline was not pushed back meanwhile), so a failure is retried.
"""

import asyncio
import contextlib
import logging
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.principal import Principal
from app.kit.errors import AppError
from app.orders.commands import CancelOrders, OrderService

log = logging.getLogger("app.orders")

MAX_TIMEOUT_SECONDS = 86_400


async def arm(
    session: AsyncSession, principal: Principal, timeout_seconds: int
) -> tuple[datetime, datetime | None]:
    """Set (or, with 0, clear) the key's deadline `timeout_seconds` from now. Returns the
    database's time now and the deadline (None: cleared). The caller commits, then wakes
    the switch."""
    if timeout_seconds == 0:
        now = await session.scalar(
            text("WITH d AS (DELETE FROM cancel_after WHERE api_key_id = :k) SELECT now()"),
            {"k": principal.api_key_id},
        )
        assert now is not None
        return now, None
    row = (
        await session.execute(
            text(
                "INSERT INTO cancel_after (api_key_id, user_id, deadline) "
                "VALUES (:k, :u, now() + make_interval(secs => :s)) "
                "ON CONFLICT (api_key_id) DO UPDATE SET deadline = EXCLUDED.deadline "
                "RETURNING now(), deadline"
            ),
            {"k": principal.api_key_id, "u": principal.user_id, "s": timeout_seconds},
        )
    ).one()
    return row[0], row[1]


class DeadMansSwitch:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        orders: OrderService,
        poll: float = 1.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.orders = orders
        self.poll = poll
        self.fired = 0  # cancel-alls submitted (for tests and metrics)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dead-mans-switch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """A deadline changed in this process: look again now."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            wait = self.poll
            try:
                wait = min(wait, await self.fire_expired())
            except Exception:  # the database or the sequencer is down: try again soon
                log.warning("dead man's switch: could not fire", exc_info=True)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(wait, 0.0))

    async def fire_expired(self) -> float:
        """Cancel the orders of every key whose deadline has passed; returns the seconds
        until the next deadline (or `poll`)."""
        async with self.sessionmaker() as session:
            due = (
                await session.execute(
                    text(
                        "SELECT api_key_id, user_id, deadline FROM cancel_after "
                        "WHERE deadline <= now() ORDER BY deadline"
                    )
                )
            ).all()
        for key_id, user_id, deadline in due:
            try:
                await self.orders.submit(CancelOrders(int(user_id), all_orders=True))
            except AppError as exc:
                if exc.status_code >= 500:
                    raise
                log.warning("dead man's switch: cancel refused", extra={"code": exc.code})
            self.fired += 1
            log.info("dead man's switch fired", extra={"api_key_id": key_id, "user_id": user_id})
            async with self.sessionmaker() as session:
                await session.execute(
                    text("DELETE FROM cancel_after WHERE api_key_id = :k AND deadline = :d"),
                    {"k": key_id, "d": deadline},
                )
                await session.commit()
        async with self.sessionmaker() as session:
            left = await session.scalar(
                text("SELECT EXTRACT(EPOCH FROM min(deadline) - now()) FROM cancel_after")
            )
        return self.poll if left is None else float(left)
