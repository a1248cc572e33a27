"""What the exchange holds on chain versus what users allocated, per (subnet, validator);
the `move_stake` plan that would close the gap; the validators view with its APR estimate.

APR method: a validator's share price (`TotalHotkeyAlpha / TotalHotkeyShares`, read from the
indexed custody positions) only moves with emissions: stake added or removed mints or burns
shares at the current price. Epochs are the chain's: each indexed block carries the subnet's
`SubnetEpochIndex` and `LastEpochBlock`. Between a position indexed in epoch `e0` and the
latest one, in epoch `e1` (at most `APR_EPOCHS` epochs back), the share price grew by what
the epochs `e0 + 1 .. e1` paid, which accrued over the blocks between their epoch blocks:
`apr = (price_now / price_then - 1) * 2_628_000 / (last_epoch_block_1 - last_epoch_block_0)`
(7,200 blocks a day, 365 days), whatever the tempo, owner-triggered or deferred epochs did to
the spacing. A simple (not compounded) rate, net of the validator's take (stakers' shares grow
by what is left after it), before the exchange's commission (`net_apr` is after it). null
when the exchange has no indexed position with that validator or less than one epoch of
history.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    CustodyPosition,
    Market,
    RewardDistribution,
    StakingAllocation,
    StakingChainFlow,
    StakingOperation,
    StakingUnbonding,
    Subnet,
    SubnetHistory,
    Validator,
)
from app.staking.errors import FlowPeriodClosed, OperationNotFound, OperationNotPlanned
from app.staking.service import current_block

BLOCKS_PER_YEAR = 7200 * 365  # 2,628,000
APR_EPOCHS = 20


@dataclass(frozen=True, slots=True)
class ValidatorView:
    validator: Validator
    custody_stake: int
    allocated: int
    apr: Fraction | None
    apr_epochs: int


@dataclass(frozen=True, slots=True)
class PositionGap:
    market: Market
    hotkey: str
    allocated: int  # allocations + pending unbondings (still staked on chain)
    on_chain: int  # latest indexed custody stake
    block: int | None

    @property
    def drift(self) -> int:
        return self.on_chain - self.allocated


async def latest_custody_stakes(
    session: AsyncSession, subnet_id: int
) -> tuple[dict[str, int], int | None]:
    """hotkey -> custody stake at the last indexed block that has custody positions."""
    block = await session.scalar(
        select(func.max(CustodyPosition.block_number)).where(CustodyPosition.subnet_id == subnet_id)
    )
    if block is None:
        return {}, None
    rows = await session.execute(
        select(CustodyPosition.hotkey, func.sum(CustodyPosition.stake))
        .where(CustodyPosition.subnet_id == subnet_id, CustodyPosition.block_number == block)
        .group_by(CustodyPosition.hotkey)
    )
    return {h: int(s) for h, s in rows}, int(block)


async def allocated_by_hotkey(session: AsyncSession, subnet_id: int) -> dict[str, int]:
    totals: dict[str, int] = {}
    for model, condition in (
        (StakingAllocation, StakingAllocation.subnet_id == subnet_id),
        (
            StakingUnbonding,
            (StakingUnbonding.subnet_id == subnet_id) & (StakingUnbonding.state == "pending"),
        ),
    ):
        rows = await session.execute(
            select(model.hotkey, func.sum(model.amount)).where(condition).group_by(model.hotkey)
        )
        for hotkey, amount in rows:
            totals[hotkey] = totals.get(hotkey, 0) + int(amount)
    return totals


async def share_price_apr(
    session: AsyncSession, subnet: Subnet, hotkey: str, epochs: int = APR_EPOCHS
) -> tuple[Fraction | None, int]:
    """(apr, epochs measured) from the indexed share price of the hotkey's pool."""

    def price_query() -> Select[int, int, Decimal, int, int]:
        return (
            select(
                CustodyPosition.block_number,
                CustodyPosition.total_alpha,
                CustodyPosition.total_shares,
                SubnetHistory.epoch_index,
                SubnetHistory.last_epoch_block,
            )
            .join(
                SubnetHistory,
                (SubnetHistory.subnet_id == CustodyPosition.subnet_id)
                & (SubnetHistory.block_number == CustodyPosition.block_number),
            )
            .where(
                CustodyPosition.subnet_id == subnet.id,
                CustodyPosition.hotkey == hotkey,
                CustodyPosition.total_shares > 0,
            )
            .limit(1)
        )

    latest = (
        await session.execute(price_query().order_by(CustodyPosition.block_number.desc()))
    ).first()
    if latest is None:
        return None, 0
    earliest = (
        await session.execute(
            price_query()
            .where(SubnetHistory.epoch_index >= latest.epoch_index - epochs)
            .order_by(CustodyPosition.block_number)
        )
    ).first()
    assert earliest is not None
    elapsed = int(latest.epoch_index) - int(earliest.epoch_index)
    blocks = int(latest.last_epoch_block) - int(earliest.last_epoch_block)
    if elapsed < 1 or blocks < 1:
        return None, 0
    price_now = Fraction(int(latest.total_alpha)) / Fraction(latest.total_shares)
    price_then = Fraction(int(earliest.total_alpha)) / Fraction(earliest.total_shares)
    return (price_now / price_then - 1) * Fraction(BLOCKS_PER_YEAR, blocks), elapsed


async def validators_of(session: AsyncSession, market: Market) -> list[ValidatorView]:
    subnet = await session.get(Subnet, market.subnet_id)
    assert subnet is not None
    stakes, _ = await latest_custody_stakes(session, subnet.id)
    allocated = await allocated_by_hotkey(session, subnet.id)
    validators = await session.scalars(
        select(Validator)
        .where(Validator.subnet_id == subnet.id)
        .order_by(Validator.total_alpha.desc(), Validator.uid)
    )
    views = []
    for v in validators:
        apr, measured = await share_price_apr(session, subnet, v.hotkey)
        views.append(
            ValidatorView(v, stakes.get(v.hotkey, 0), allocated.get(v.hotkey, 0), apr, measured)
        )
    return views


async def reconciliation(session: AsyncSession) -> list[PositionGap]:
    markets = await session.scalars(select(Market).order_by(Market.netuid))
    gaps: list[PositionGap] = []
    for market in markets:
        stakes, block = await latest_custody_stakes(session, market.subnet_id)
        allocated = await allocated_by_hotkey(session, market.subnet_id)
        for hotkey in sorted(set(stakes) | {h for h, a in allocated.items() if a}):
            gaps.append(
                PositionGap(market, hotkey, allocated.get(hotkey, 0), stakes.get(hotkey, 0), block)
            )
    return gaps


def plan_moves(gaps: list[PositionGap]) -> list[tuple[str, str, int]]:
    """Greedy: the most over-weighted hotkey feeds the most under-weighted one, until one
    side runs out (origin, destination, amount). Deterministic for equal drifts."""
    surplus = sorted(
        ((g.drift, g.hotkey) for g in gaps if g.drift > 0), key=lambda x: (-x[0], x[1])
    )
    deficit = sorted(
        ((-g.drift, g.hotkey) for g in gaps if g.drift < 0), key=lambda x: (-x[0], x[1])
    )
    moves: list[tuple[str, str, int]] = []
    i = j = 0
    s_left = surplus[0][0] if surplus else 0
    d_left = deficit[0][0] if deficit else 0
    while i < len(surplus) and j < len(deficit):
        amount = min(s_left, d_left)
        moves.append((surplus[i][1], deficit[j][1], amount))
        s_left -= amount
        d_left -= amount
        if s_left == 0:
            i += 1
            s_left = surplus[i][0] if i < len(surplus) else 0
        if d_left == 0:
            j += 1
            d_left = deficit[j][0] if j < len(deficit) else 0
    return moves


async def plan_operations(session: AsyncSession) -> list[StakingOperation]:
    """Compute and store a fresh plan; planned operations of older plans are superseded."""
    await session.execute(
        update(StakingOperation)
        .where(StakingOperation.status == "planned")
        .values(status="superseded")
    )
    plan_id = uuid.uuid4()
    gaps = await reconciliation(session)
    operations: list[StakingOperation] = []
    by_market: dict[int, list[PositionGap]] = {}
    for gap in gaps:
        by_market.setdefault(gap.market.id, []).append(gap)
    for market_gaps in by_market.values():
        market = market_gaps[0].market
        block = max((g.block or 0) for g in market_gaps)
        for origin, destination, amount in plan_moves(market_gaps):
            operation = StakingOperation(
                plan_id=plan_id,
                subnet_id=market.subnet_id,
                netuid=market.netuid,
                operation="move_stake",
                origin_hotkey=origin,
                destination_hotkey=destination,
                amount=amount,
                status="planned",
                based_on_block=block,
            )
            session.add(operation)
            operations.append(operation)
    await session.flush()
    return operations


async def latest_plan(session: AsyncSession) -> list[StakingOperation]:
    newest = (
        await session.execute(
            select(StakingOperation.plan_id).order_by(StakingOperation.id.desc()).limit(1)
        )
    ).scalar()
    if newest is None:
        return []
    return list(
        await session.scalars(
            select(StakingOperation)
            .where(StakingOperation.plan_id == newest)
            .order_by(StakingOperation.id)
        )
    )


async def _require_open_period(
    session: AsyncSession, subnet_id: int, hotkey: str, block: int
) -> None:
    """A flow at or before a closed period's end would never be netted out of a reward."""
    closed = await session.scalar(
        select(func.max(RewardDistribution.end_block)).where(
            RewardDistribution.subnet_id == subnet_id, RewardDistribution.hotkey == hotkey
        )
    )
    if closed is not None and block <= closed:
        raise FlowPeriodClosed(
            f"rewards of {hotkey} are distributed up to block {closed}: record the flow at a "
            "later block",
            details={"closed_through_block": closed},
        )


async def mark_executed(
    session: AsyncSession, operation_id: int, block: int | None
) -> StakingOperation:
    """The operator executed the move on chain at `block`: record it, and record the stake
    flows so that reward periods do not count the move as emissions."""
    operation = await session.get(StakingOperation, operation_id, with_for_update=True)
    if operation is None:
        raise OperationNotFound(f"no staking operation {operation_id}")
    if operation.status != "planned":
        raise OperationNotPlanned(f"operation {operation_id} is {operation.status}")
    at = block if block is not None else await current_block(session)
    for hotkey in (operation.origin_hotkey, operation.destination_hotkey):
        await _require_open_period(session, operation.subnet_id, hotkey, at)
    operation.status = "executed"
    operation.executed_block = at
    operation.executed_at = datetime.now(UTC)
    for hotkey, amount in (
        (operation.origin_hotkey, -operation.amount),
        (operation.destination_hotkey, operation.amount),
    ):
        session.add(
            StakingChainFlow(
                subnet_id=operation.subnet_id,
                hotkey=hotkey,
                block_number=at,
                amount=amount,
                reason=f"move_stake operation {operation.id}",
                operation_id=operation.id,
            )
        )
    await session.flush()
    return operation


async def record_flow(
    session: AsyncSession, market: Market, hotkey: str, amount: int, block: int, reason: str
) -> StakingChainFlow:
    await _require_open_period(session, market.subnet_id, hotkey, block)
    flow = StakingChainFlow(
        subnet_id=market.subnet_id, hotkey=hotkey, block_number=block, amount=amount, reason=reason
    )
    session.add(flow)
    await session.flush()
    return flow
