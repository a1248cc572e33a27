"""The custody worker: the scanner, then the signer (withdrawals, the sweeper, the stake
manager), then the scheduled proof-of-reserves audit (when due), in one loop.

Runs inside `serve` (EXCHANGE_CUSTODY_ENABLED) or alone (`python -m app custody`). One
worker at a time: a Postgres advisory lock, held on a dedicated connection. The signer runs
only where the custody secret is (EXCHANGE_CUSTODY_SECRET_URI, or the devnet's own key).
Chain or database trouble is logged and retried with backoff; it never ends the loop.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.chain.custody import AsyncCustodyChain
from app.chain.endpoint import is_devnet
from app.config import Settings
from app.custody.policy import Policy
from app.custody.scanner import ScanDiscontinuity, Scanner
from app.custody.signer import Signer
from app.custody.stake_manager import DEFAULT_ALERT_BLOCKS, StakeManager
from app.custody.sweeper import sweep
from app.models import CustodyScanState
from app.ops.readiness import CheckResult, ReadinessCheck
from app.por.runner import PorSchedule

log = logging.getLogger("app.custody")

ADVISORY_LOCK_KEY = 0x647461_0002  # "dta" + 2: the custody worker's single-writer lock
MAX_BLOCKS_PER_STEP = 500  # then the signer gets a turn


class CustodyWorker:
    def __init__(
        self,
        chain: AsyncCustodyChain,
        engine: AsyncEngine,
        policy: Policy,
        *,
        label: str,
        start_block: int | None = None,
        poll_seconds: float = 2.0,
        sign: bool = True,
        rebase_on_discontinuity: bool = False,
        failpoint: str | None = None,
        por_interval_seconds: int = 0,
        drift_alert_blocks: int = DEFAULT_ALERT_BLOCKS,
    ) -> None:
        self.chain = chain
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.scanner = Scanner(
            chain, self.sessionmaker, policy, label=label, start_block=start_block
        )
        self.signer = (
            Signer(chain, self.sessionmaker, policy, failpoint=failpoint)
            if sign and policy.signer is not None
            else None
        )
        self.stakes = (
            StakeManager(self.signer, drift_alert_blocks) if self.signer is not None else None
        )
        # Proof of reserves on a schedule: only where the secret is (every custody key signs).
        self.por = (
            PorSchedule(self.sessionmaker, chain, policy, por_interval_seconds)
            if por_interval_seconds > 0 and policy.signer is not None
            else None
        )
        self.rebase_on_discontinuity = rebase_on_discontinuity
        self.last_step_at: datetime | None = None
        self.stopped_by: str | None = None  # why the scanner cannot go on, if it cannot

    async def step(self) -> None:
        try:
            await self.scanner.scan(max_blocks=MAX_BLOCKS_PER_STEP)
        except ScanDiscontinuity as exc:
            if not self.rebase_on_discontinuity:
                self.stopped_by = exc.message
                raise
            await self._rebase(exc)
        if self.signer is not None:
            # The omnibus sends one transaction at a time: withdrawals and stake moves take
            # turns when both wait (the stake manager goes first after a withdrawal), so
            # neither starves the other.
            await self.signer.rebroadcast()
            stakes_first = self.stakes is not None and await self.signer.last_purpose() == (
                "withdrawal"
            )
            if stakes_first and self.stakes is not None:
                await self.stakes.step()
            await self.signer.send_withdrawals()
            await sweep(self.signer)
            if not stakes_first and self.stakes is not None:
                await self.stakes.step()
        if self.por is not None:
            await self.por.step()
        self.stopped_by = None
        self.last_step_at = datetime.now(UTC)

    async def _rebase(self, exc: ScanDiscontinuity) -> None:
        """The in-process devnet restarts at genesis on every start: a scan state of an
        earlier devnet names blocks this one never had. Scanning goes on from the head."""
        log.warning("devnet chain changed: scanning from its head", extra={"error": exc.message})
        async with self.sessionmaker() as session:
            await session.execute(text("DELETE FROM custody_scan_state"))
            await session.commit()
        self.scanner.start_block = None
        await self.scanner.scan(max_blocks=MAX_BLOCKS_PER_STEP)

    async def run(self, stop: asyncio.Event) -> None:
        async with self.engine.connect() as lock_conn:
            while not stop.is_set():
                locked = await lock_conn.scalar(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}
                )
                await lock_conn.commit()
                if locked:
                    break
                log.info("another custody worker holds the lock; waiting")
                if await _wait(stop, 5.0):
                    return
            backoff = self.poll_seconds
            while not stop.is_set():
                try:
                    await self.step()
                    backoff = self.poll_seconds
                except Exception as exc:
                    log.warning("custody step failed", extra={"error": repr(exc)[:500]})
                    backoff = min(max(backoff, 0.5) * 2, 30.0)
                if await _wait(stop, backoff):
                    return


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


def make_worker(
    settings: Settings, engine: AsyncEngine, chain: AsyncCustodyChain, policy: Policy
) -> CustodyWorker:
    return CustodyWorker(
        chain,
        engine,
        policy,
        label=settings.chain_url,
        start_block=settings.custody_scan_start_block,
        poll_seconds=settings.custody_poll_seconds,
        sign=settings.custody_signer_enabled,
        rebase_on_discontinuity=is_devnet(settings.chain_url),
        failpoint=settings.custody_failpoint,
        por_interval_seconds=settings.por_interval_seconds,
        drift_alert_blocks=settings.staking_drift_alert_blocks,
    )


@contextlib.asynccontextmanager
async def run_custody(
    settings: Settings, engine: AsyncEngine, url: str, policy: Policy
) -> AsyncIterator[CustodyWorker]:
    """Run the custody worker in the background against the chain at `url`."""
    chain = AsyncCustodyChain.connect(url)
    worker = make_worker(settings, engine, chain, policy)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="custody")
    try:
        yield worker
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 30)
        except TimeoutError:
            task.cancel()
        await chain.close()


def readiness_check(worker: CustodyWorker) -> ReadinessCheck:
    async def check() -> CheckResult:
        async with worker.sessionmaker() as session:
            state = await session.get(CustodyScanState, 1)
        details: dict[str, object] = {
            "last_block": state.last_block if state else None,
            "head": worker.scanner.head,
            "signer": worker.signer is not None,
        }
        if worker.stopped_by:
            details["stopped_by"] = worker.stopped_by
        return CheckResult(worker.stopped_by is None, details)

    return check
