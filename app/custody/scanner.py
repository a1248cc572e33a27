"""The deposit scanner: every finalized block, in order, none skipped.

For each block (one Postgres transaction per block, with `custody_scan_state`):
1. check it continues the last one scanned (number + 1, parent hash): a gap or a fork of
   finalized blocks stops the scanner loudly instead of guessing;
2. read its `System.Events` (pinned to its hash) and classify them (`classify.inflows`):
   deposits to deposit addresses are recorded once per (block hash, event index) and
   credited at once (finality is the only wait);
3. find the exchange's own recorded transactions among its extrinsics (by hash) and settle
   them, or expire those whose era ended (`transactions`).

The state is in Postgres: a restart, a dropped connection or a restarted node resumes at
the next unscanned block. A block whose state the node has pruned is retried, never
skipped: point CHAIN_URL at an archive node to scan further back than its pruning window.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chain.client import BlockRef
from app.chain.custody import AsyncCustodyChain, BlockEvents
from app.custody import classify, transactions
from app.custody.addresses import by_addresses
from app.custody.deposits import record_inflow
from app.custody.notices import CUSTODY_EVENTS, notice
from app.custody.policy import Policy
from app.kit.errors import ServiceUnavailable
from app.kit.notify import notify
from app.models import ChainDeposit, ChainTransaction, CustodyScanState, Withdrawal
from app.staking.rewards import distribute_ready

log = logging.getLogger("app.custody.scanner")


class ScanDiscontinuity(ServiceUnavailable):
    """The next finalized block does not continue the last one scanned."""

    code = "scan_discontinuity"


@dataclass(slots=True)
class BlockResult:
    number: int
    deposits: list[ChainDeposit] = field(default_factory=list)
    settled: list[ChainTransaction] = field(default_factory=list)
    expired: list[ChainTransaction] = field(default_factory=list)


class Scanner:
    def __init__(
        self,
        chain: AsyncCustodyChain,
        sessionmaker: async_sessionmaker[AsyncSession],
        policy: Policy,
        *,
        label: str,
        start_block: int | None = None,
    ) -> None:
        self.chain = chain
        self.sessionmaker = sessionmaker
        self.policy = policy
        self.label = label
        self.start_block = start_block
        self.head: int | None = None
        self.last_block: int | None = None

    async def last_scanned(self) -> CustodyScanState | None:
        async with self.sessionmaker() as session:
            return await session.get(CustodyScanState, 1)

    async def scan(self, max_blocks: int | None = None) -> int:
        """Scan every finalized block not scanned yet (up to `max_blocks`); returns how
        many were scanned."""
        head = await self.chain.finalized_head()
        self.head = head.number
        state = await self.last_scanned()
        if state is None:
            start = self.start_block if self.start_block is not None else head.number
            first = min(start, head.number)
        else:
            first = state.last_block + 1
        done = 0
        number = first
        while number <= head.number and (max_blocks is None or done < max_blocks):
            await self.scan_block(number, first_ever=state is None and number == first)
            number += 1
            done += 1
        return done

    async def scan_block(self, number: int, *, first_ever: bool = False) -> BlockResult:
        block = await self.chain.block_events(number)
        # What the block's events name that is ours, and the open transactions: read first,
        # so that the chain is not called while the block's transaction is open.
        async with self.sessionmaker() as session:
            ours = await by_addresses(session, classify.mentioned_accounts(block.events))
            open_txs = await transactions.open_transactions(session)
        exchange = set(ours) | {self.policy.keys.omnibus}
        found = classify.inflows(block.events, set(ours), exchange)
        signed_by_us = {
            i
            for i, group in classify.by_extrinsic(block.events).items()
            if classify.signer_of(group) in exchange
        }
        candidates = [t for t in open_txs if t.era_birth <= number < t.death]
        hashes: list[str] = []
        if found or signed_by_us or candidates:
            hashes = await self.chain.extrinsic_hashes(block.hash)
        async with self.sessionmaker() as session:
            result = await self._write(session, block, found, hashes, signed_by_us, first_ever)
            await session.commit()
        self.last_block = number
        if result.deposits or result.settled:
            log.info(
                "block scanned",
                extra={
                    "block": number,
                    "deposits": len(result.deposits),
                    "settled": len(result.settled),
                },
            )
        return result

    async def _write(
        self,
        session: AsyncSession,
        block: BlockEvents,
        found: list[classify.Inflow],
        hashes: list[str],
        signed_by_us: set[int],
        first_ever: bool,
    ) -> BlockResult:
        state = await session.get(CustodyScanState, 1, with_for_update=True)
        if state is None and not first_ever:
            raise ScanDiscontinuity("the scan state vanished")
        if state is not None:
            if block.number <= state.last_block:
                return BlockResult(block.number)  # scanned already (another scanner?)
            if block.number != state.last_block + 1 or block.parent_hash != state.last_block_hash:
                raise ScanDiscontinuity(
                    f"block {block.number} ({block.hash}) does not continue block "
                    f"{state.last_block} ({state.last_block_hash})"
                )
        result = BlockResult(block.number)
        ref = BlockRef(block.number, block.hash)
        ours = await by_addresses(session, {i.address for i in found})
        for inflow in found:
            xt_hash = hashes[inflow.extrinsic] if inflow.extrinsic < len(hashes) else None
            deposit = await record_inflow(
                session, self.policy, ref, inflow, ours[inflow.address], xt_hash
            )
            if deposit is not None:
                result.deposits.append(deposit)
                await notify(
                    session, CUSTODY_EVENTS, notice("deposit", deposit.user_id, deposit.id)
                )

        by_hash = {h: i for i, h in enumerate(hashes)}
        matched: set[int] = set()
        for tx in await transactions.open_transactions(session):
            index = by_hash.get(tx.extrinsic_hash)
            if index is not None:
                matched.add(index)
                outcome = classify.outcome(index, block.events)
                await transactions.settle(
                    session, self.policy, tx, block.number, block.hash, outcome
                )
                result.settled.append(tx)
            elif block.number >= tx.death - 1 and tx.era_birth <= block.number:
                await transactions.expire(session, tx, block.number)
                result.expired.append(tx)
            else:
                continue
            if tx.withdrawal_id is not None:
                user_id = await _withdrawal_user(session, tx.withdrawal_id)
                await notify(
                    session, CUSTODY_EVENTS, notice("withdrawal", user_id, tx.withdrawal_id)
                )
        for index in sorted(signed_by_us - matched):
            # Signed with a custody key but not recorded by the signer: someone else holds a
            # key, or a record was lost. Nothing is credited for it; say so loudly.
            log.error(
                "an extrinsic signed by a custody account was not recorded by the signer",
                extra={"block": block.number, "extrinsic": index},
            )

        values = {
            "id": 1,
            "chain": self.label,
            "last_block": block.number,
            "last_block_hash": block.hash,
            "updated_at": datetime.now(UTC),
        }
        await session.execute(
            insert(CustodyScanState)
            .values(values)
            .on_conflict_do_update(
                index_elements=["id"], set_={k: v for k, v in values.items() if k != "id"}
            )
        )
        await session.flush()
        # Reward periods of blocks the indexer has already processed can close now that
        # this block's stake flows are recorded.
        await distribute_ready(session)
        return result


async def _withdrawal_user(session: AsyncSession, withdrawal_id: int) -> int:
    user_id = await session.scalar(select(Withdrawal.user_id).where(Withdrawal.id == withdrawal_id))
    return int(user_id or 0)
