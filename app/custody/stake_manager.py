"""The stake manager, on chain: keeps the omnibus coldkey's stake per (subnet, hotkey) equal
to users' allocations, the rest (the float) under the exchange's own hotkey
(`EXCHANGE_CUSTODY_VALIDATOR_HOTKEY`). The plan is `app.staking.manager`'s; this reads the
chain and the allocations, records the plan and signs its moves.

Each custody step, after the scanner, the withdrawals and the sweeper:
1. the omnibus's holdings are read at the LAST SCANNED block: every transaction included up
   to it is settled, none after it is, so holdings and the recorded moves agree exactly;
2. per listed subnet: targets (`manager.targets`), differences counting the move in flight,
   and the drift watch: a position that differs by at least the smallest stake move gets a
   `staking_drift` row (since which block); once it lasts `alert_blocks` it is an alert: an
   error log line and the `staking_drift_alerts` gauge (the reconciliation shows it too);
3. when the omnibus has no open transaction: a fresh plan (the planned moves of the previous
   one are superseded), and its first move is signed, recorded and broadcast by the signer,
   exactly as a withdrawal is: a crash before the record sends nothing; after it, the
   recorded bytes are broadcast again; the scanner settles it from a finalized block
   (`transactions.settle`: what the chain moved, as stake flows, so rewards do not count it
   as emissions) or expires it when its era ends. A move the chain capped leaves the rest of
   the gap, which the next plan closes; a move that failed `MAX_FAILURES` times in a row is
   not tried again for `RETRY_BLOCKS` blocks (the drift alert tells an operator).
"""

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.custody.policy import EXISTENTIAL_DEPOSIT
from app.kit.metrics import STAKING_DRIFT_ALERTS
from app.models import CustodyScanState, Market, StakingDrift, StakingOperation, Subnet
from app.staking import manager
from app.staking.reconciliation import allocated_by_hotkey, in_flight_moves

if TYPE_CHECKING:
    from app.custody.signer import Signer

log = logging.getLogger("app.custody.stake_manager")

MAX_FAILURES = 3
RETRY_BLOCKS = 300
DEFAULT_ALERT_BLOCKS = 20


@dataclass(frozen=True, slots=True)
class SubnetPlan:
    subnet_id: int
    netuid: int
    moves: list[manager.Move]


class StakeManager:
    def __init__(self, signer: "Signer", alert_blocks: int = DEFAULT_ALERT_BLOCKS) -> None:
        self.signer = signer
        self.alert_blocks = alert_blocks
        self.alerting: set[tuple[int, str]] = set()

    async def step(self) -> None:
        float_hotkey = self.signer.policy.validator_hotkey
        if float_hotkey is None:
            return
        omnibus = self.signer.omnibus.ss58_address
        async with self.signer.sessionmaker() as session:
            scanned = await session.get(CustodyScanState, 1)
        if scanned is None:
            return
        holdings = await self.signer.chain.holdings([omnibus], scanned.last_block_hash)
        held_all = holdings.stake_of(omnibus)
        busy = omnibus in await self.signer.open_signers()
        plans: list[SubnetPlan] = []
        async with self.signer.sessionmaker() as session:
            markets = (
                await session.execute(
                    select(Market.subnet_id, Market.netuid, Subnet.price_rao)
                    .join(Subnet, Subnet.id == Market.subnet_id)
                    .order_by(Market.netuid)
                )
            ).all()
            allocations = await allocated_by_hotkey(session)
            in_flight = await in_flight_moves(session)
            for subnet_id, netuid, price in markets:
                held = {h: v for (h, n), v in held_all.items() if n == netuid}
                allocated = allocations.get(subnet_id, {})
                wanted = manager.targets(held, allocated, float_hotkey)
                flying = in_flight.get(subnet_id, {})
                minimum = manager.minimum_stake_move(int(price) if price else None)
                gaps = manager.differences(held, wanted, flying)
                await self._watch(session, subnet_id, netuid, gaps, minimum, scanned.last_block)
                if not busy:
                    moves = [
                        m
                        for m in manager.plan(gaps, minimum)
                        if not await _failing(session, subnet_id, m, scanned.last_block)
                    ]
                    if moves:
                        plans.append(SubnetPlan(subnet_id, netuid, moves))
            STAKING_DRIFT_ALERTS.set(len(self.alerting))
            if busy:
                await session.commit()
                return
            first = await _record_plan(session, plans, scanned.last_block)
            await session.commit()
        if first is not None:
            await self._send(first, holdings.free.get(omnibus, 0))

    async def _watch(
        self,
        session: AsyncSession,
        subnet_id: int,
        netuid: int,
        gaps: dict[str, int],
        minimum: int,
        block: int,
    ) -> None:
        drifting = {h: d for h, d in gaps.items() if abs(d) >= minimum}
        await session.execute(
            delete(StakingDrift).where(
                StakingDrift.subnet_id == subnet_id, StakingDrift.hotkey.not_in(list(drifting))
            )
        )
        for hotkey in [h for s, h in self.alerting if s == subnet_id and h not in drifting]:
            self.alerting.discard((subnet_id, hotkey))
            log.info("custody position back in line", extra={"netuid": netuid, "hotkey": hotkey})
        for hotkey, difference in sorted(drifting.items()):
            stmt = insert(StakingDrift).values(
                subnet_id=subnet_id,
                hotkey=hotkey,
                netuid=netuid,
                since_block=block,
                difference=difference,
                checked_block=block,
            )
            row = await session.scalar(
                stmt.on_conflict_do_update(
                    index_elements=["subnet_id", "hotkey"],
                    set_={"difference": difference, "checked_block": block},
                ).returning(StakingDrift)
            )
            assert row is not None
            key = (subnet_id, hotkey)
            if block - row.since_block >= self.alert_blocks and key not in self.alerting:
                self.alerting.add(key)
                log.error(
                    "custody stake differs from allocations",
                    extra={
                        "netuid": netuid,
                        "hotkey": hotkey,
                        "difference": difference,
                        "since_block": row.since_block,
                        "block": block,
                    },
                )

    async def _send(self, operation: StakingOperation, free: int) -> None:
        args: dict[str, Any] = {
            "origin_hotkey": operation.origin_hotkey,
            "destination_hotkey": operation.destination_hotkey,
            "origin_netuid": operation.netuid,
            "destination_netuid": operation.netuid,
            "alpha_amount": operation.amount,
        }
        fee = await self.signer.chain.fee(
            self.signer.omnibus, "SubtensorModule", "move_stake", args
        )
        if free < fee + EXISTENTIAL_DEPOSIT:
            log.warning(
                "the omnibus cannot pay a stake move's fee: waiting for TAO",
                extra={"free": free, "fee": fee},
            )
            return
        await self.signer.send(
            self.signer.omnibus,
            "stake_move",
            "SubtensorModule",
            "move_stake",
            args,
            netuid=operation.netuid,
            hotkey=operation.origin_hotkey,
            amount=operation.amount,
            operation_id=operation.id,
        )


async def _failing(session: AsyncSession, subnet_id: int, move: manager.Move, block: int) -> bool:
    """Whether the last `MAX_FAILURES` moves between these hotkeys all failed, the latest
    less than `RETRY_BLOCKS` ago."""
    recent = list(
        await session.scalars(
            select(StakingOperation)
            .where(
                StakingOperation.subnet_id == subnet_id,
                StakingOperation.origin_hotkey == move.origin,
                StakingOperation.destination_hotkey == move.destination,
                StakingOperation.status.in_(("executed", "failed")),
            )
            .order_by(StakingOperation.id.desc())
            .limit(MAX_FAILURES)
        )
    )
    return (
        len(recent) == MAX_FAILURES
        and all(op.status == "failed" for op in recent)
        and block - (recent[0].executed_block or 0) < RETRY_BLOCKS
    )


async def _record_plan(
    session: AsyncSession, plans: list[SubnetPlan], block: int
) -> StakingOperation | None:
    """Supersede what is still planned, store the new plan; its first move (None: nothing
    to do)."""
    await session.execute(
        update(StakingOperation)
        .where(StakingOperation.status == "planned")
        .values(status="superseded")
    )
    if not plans:
        return None
    plan_id = uuid.uuid4()
    operations = [
        StakingOperation(
            plan_id=plan_id,
            subnet_id=p.subnet_id,
            netuid=p.netuid,
            operation="move_stake",
            origin_hotkey=m.origin,
            destination_hotkey=m.destination,
            amount=m.amount,
            status="planned",
            based_on_block=block,
        )
        for p in plans
        for m in p.moves
    ]
    session.add_all(operations)
    await session.flush()
    log.info("stake plan", extra={"plan": str(plan_id), "moves": len(operations)})
    return operations[0]
