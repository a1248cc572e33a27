"""The indexer loop: follow finalized blocks, snapshot, write, repeat.

One writer: a Postgres advisory lock, held on a dedicated connection for as long as the
indexer runs. Chain trouble (unreachable, garbage, timeouts) is logged and retried with
backoff; it never ends the loop.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.chain.client import AsyncChainClient, BlockRef
from app.chain.endpoint import chain_endpoint, is_devnet
from app.chain.errors import ChainError
from app.config import Settings
from app.indexer.service import SyncListener, SyncResult, write_snapshot
from app.models import IndexerState
from app.ops.readiness import CheckResult, ReadinessCheck

log = logging.getLogger("app.indexer")

ADVISORY_LOCK_KEY = 0x647461_0001  # "dta" + 1: the indexer's single-writer lock


@dataclass(slots=True)
class IndexerOptions:
    chain: str  # a label stored with the state, e.g. the endpoint
    every_blocks: int = 1  # snapshot every K-th finalized block
    poll_seconds: float = 2.0
    max_catchup_blocks: int = 200  # further behind than this: jump to head (gap logged)
    custody_coldkeys: tuple[str, ...] = ()
    nominators_every_blocks: int = 300  # count nominators at blocks divisible by this


class Indexer:
    def __init__(
        self,
        client: AsyncChainClient,
        engine: AsyncEngine,
        options: IndexerOptions,
        listeners: list[SyncListener],
    ) -> None:
        self.client = client
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        self.options = options
        self.listeners = listeners
        self.head: BlockRef | None = None

    async def _last_block(self, session: AsyncSession) -> int | None:
        return await session.scalar(select(IndexerState.last_block))

    def _next_target(self, last: int | None, head: int) -> int | None:
        k = self.options.every_blocks
        if last is None:
            return head
        target = last + k
        if target > head:
            return None
        if head - target > self.options.max_catchup_blocks:
            log.warning("indexer far behind: skipping to head", extra={"last": last, "head": head})
            return head - head % k if head % k else head
        return target

    async def sync_once(self) -> SyncResult | None:
        """Index the next due finalized block, if any. Returns None when caught up."""
        head = await self.client.finalized_head()
        self.head = head
        async with self.sessionmaker() as session:
            last = await self._last_block(session)
        target = self._next_target(last, head.number)
        if target is None:
            return None
        block_hash = head.hash if target == head.number else await self._hash_of(target)
        every = max(self.options.nominators_every_blocks, 1)
        snapshot = await self.client.snapshot(
            block_hash,
            coldkeys=self.options.custody_coldkeys,
            include_non_validators=True,  # every registered hotkey, with or without a permit
            include_nominators=target % every == 0 or last is None,
        )
        async with self.sessionmaker() as session:
            result = await write_snapshot(
                session,
                snapshot,
                chain=self.options.chain,
                head_block=head.number,
                # The block's own time (`Timestamp.Now`); indexing time only if it has none.
                block_time=snapshot.block_time or datetime.now(UTC),
                listeners=self.listeners,
            )
            await session.commit()
        if result.new_subnets or result.retired_subnets:
            log.info(
                "subnets changed",
                extra={
                    "block": result.block_number,
                    "new": [s.netuid for s in result.new_subnets],
                    "retired": [s.netuid for s in result.retired_subnets],
                },
            )
        return result

    async def _hash_of(self, number: int) -> str:
        block_hash = await self.client.rpc("chain_getBlockHash", [number])
        if not isinstance(block_hash, str):
            raise ChainError(f"no hash for block {number}")
        return block_hash

    async def catch_up(self) -> int:
        """Index every due block up to the finalized head; returns how many were written."""
        written = 0
        while (result := await self.sync_once()) is not None:
            written += 0 if result.skipped else 1
        return written

    async def run(self, stop: asyncio.Event) -> None:
        async with self.engine.connect() as lock_conn:
            while not stop.is_set():
                locked = await lock_conn.scalar(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}
                )
                await lock_conn.commit()
                if locked:
                    break
                log.info("another indexer holds the lock; waiting")
                if await _wait(stop, 5.0):
                    return
            backoff = self.options.poll_seconds
            while not stop.is_set():
                try:
                    await self.catch_up()
                    backoff = self.options.poll_seconds
                except ChainError as exc:
                    log.warning("chain unavailable", extra={"error": str(exc)})
                    backoff = min(backoff * 2, 60.0)
                except Exception:
                    log.exception("indexer step failed")
                    backoff = min(backoff * 2, 60.0)
                if await _wait(stop, backoff):
                    return


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep unless stopped; True if stopped."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def devnet_resume_point(settings: Settings, engine: AsyncEngine) -> tuple[int, str] | None:
    """Where a fresh in-process devnet must be replayed to: the last indexed block."""
    if not is_devnet(settings.chain_url):
        return None
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(IndexerState.chain, IndexerState.last_block, IndexerState.last_block_hash)
            )
        ).first()
    if row is not None and is_devnet(row.chain):
        return (row.last_block, row.last_block_hash)
    return None


@contextlib.asynccontextmanager
async def run_indexer(
    settings: Settings,
    engine: AsyncEngine,
    listeners: list[SyncListener],
    url: str | None = None,
) -> AsyncIterator[Indexer]:
    """Run the indexer in the background against `url`, or (without one) against
    CHAIN_URL, with an in-process devnet for CHAIN_URL=devnet."""
    async with contextlib.AsyncExitStack() as stack:
        if url is None:
            url = await stack.enter_async_context(
                chain_endpoint(
                    settings.chain_url,
                    resume_from=await devnet_resume_point(settings, engine),
                    host=settings.devnet_host,
                    port=settings.devnet_port,
                )
            )
        client = AsyncChainClient(url)
        options = IndexerOptions(
            chain=settings.chain_url,
            every_blocks=settings.indexer_every_blocks,
            poll_seconds=settings.indexer_poll_seconds,
            max_catchup_blocks=settings.indexer_max_catchup_blocks,
            custody_coldkeys=custody_coldkeys(settings),
            nominators_every_blocks=settings.indexer_nominators_every_blocks,
        )
        indexer = Indexer(client, engine, options, listeners)
        stop = asyncio.Event()
        task = asyncio.create_task(indexer.run(stop), name="indexer")
        try:
            yield indexer
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, 30)
            except TimeoutError:
                task.cancel()
            await client.close()


def custody_coldkeys(settings: Settings) -> tuple[str, ...]:
    """The configured custody coldkeys and the omnibus account (when custody is set up)."""
    from app.custody.errors import CustodyNotConfigured
    from app.custody.keys import load_keys

    coldkeys = list(settings.custody_coldkeys)
    with contextlib.suppress(CustodyNotConfigured):
        coldkeys.append(load_keys(settings).omnibus)
    return tuple(dict.fromkeys(coldkeys))


def readiness_check(engine: AsyncEngine, max_staleness_seconds: float) -> ReadinessCheck:
    async def check() -> CheckResult:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(IndexerState.last_block, IndexerState.head_block, IndexerState.synced_at)
                )
            ).first()
        if row is None:
            return CheckResult(False, {"last_block": None, "message": "no block indexed yet"})
        age = (datetime.now(UTC) - row.synced_at).total_seconds()
        return CheckResult(
            age <= max_staleness_seconds,
            {
                "last_block": row.last_block,
                "lag_blocks": max(0, row.head_block - row.last_block),
                "seconds_since_sync": round(age, 1),
            },
        )

    return check
