"""What the exchange holds on chain versus what users allocated, per (subnet, validator),
with what the stake manager has in flight and how long a difference has lasted; the
manager's latest plan; corrections of stake flows; the validators view with its APR
estimate.

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

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    CustodyPosition,
    Market,
    RewardDistribution,
    StakingAllocation,
    StakingChainFlow,
    StakingDrift,
    StakingOperation,
    Subnet,
    SubnetHistory,
    Validator,
)
from app.staking import manager
from app.staking.errors import FlowPeriodClosed

BLOCKS_PER_YEAR = 7200 * 365  # 2,628,000
APR_EPOCHS = 20


@dataclass(frozen=True, slots=True)
class ValidatorView:
    validator: Validator
    custody_stake: int
    allocated: int
    apr: Fraction | None
    apr_epochs: int


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


async def allocated_by_hotkey(session: AsyncSession) -> dict[int, dict[str, int]]:
    """subnet id -> hotkey -> users' allocations to it (pending unbondings are not: they
    wait under the float hotkey, earning nothing). One query for every subnet."""
    rows = await session.execute(
        select(
            StakingAllocation.subnet_id,
            StakingAllocation.hotkey,
            func.sum(StakingAllocation.amount),
        )
        .where(StakingAllocation.amount > 0)
        .group_by(StakingAllocation.subnet_id, StakingAllocation.hotkey)
    )
    out: dict[int, dict[str, int]] = {}
    for subnet_id, hotkey, amount in rows:
        out.setdefault(int(subnet_id), {})[hotkey] = int(amount)
    return out


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
    allocated = (await allocated_by_hotkey(session)).get(subnet.id, {})
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


@dataclass(frozen=True, slots=True)
class PositionRow:
    """One custody position (subnet, hotkey): what it should hold (users' allocations; the
    float hotkey also the float), what the chain holds at the last indexed block, what the
    stake manager has in flight, and for how long a difference has lasted."""

    market: Market
    hotkey: str
    allocated: int
    float: int
    on_chain: int
    in_flight: int
    block: int | None
    drifting_since: int | None
    alert: bool

    @property
    def target(self) -> int:
        return self.allocated + self.float

    @property
    def difference(self) -> int:
        return self.on_chain + self.in_flight - self.target


async def in_flight_moves(session: AsyncSession) -> dict[int, dict[str, int]]:
    """subnet id -> hotkey -> stake the manager's sent, not yet settled moves bring (+) or
    take (-). One query for every subnet."""
    out: dict[int, dict[str, int]] = {}
    for op in await session.scalars(
        select(StakingOperation).where(StakingOperation.status == "sending")
    ):
        flying = out.setdefault(op.subnet_id, {})
        flying[op.origin_hotkey] = flying.get(op.origin_hotkey, 0) - op.amount
        flying[op.destination_hotkey] = flying.get(op.destination_hotkey, 0) + op.amount
    return out


async def reconciliation(
    session: AsyncSession, float_hotkey: str | None, alert_blocks: int
) -> list[PositionRow]:
    rows: list[PositionRow] = []
    allocations = await allocated_by_hotkey(session)
    moves = await in_flight_moves(session)
    for market in await session.scalars(select(Market).order_by(Market.netuid)):
        stakes, block = await latest_custody_stakes(session, market.subnet_id)
        allocated = allocations.get(market.subnet_id, {})
        flying = moves.get(market.subnet_id, {})
        drift = {
            d.hotkey: d
            for d in await session.scalars(
                select(StakingDrift).where(StakingDrift.subnet_id == market.subnet_id)
            )
        }
        wanted = manager.targets(stakes, allocated, float_hotkey) if float_hotkey else allocated
        hotkeys = set(stakes) | set(allocated) | set(flying) | set(drift)
        if float_hotkey and (stakes or allocated):
            hotkeys.add(float_hotkey)
        for hotkey in sorted(hotkeys):
            d = drift.get(hotkey)
            own = allocated.get(hotkey, 0)
            rows.append(
                PositionRow(
                    market,
                    hotkey,
                    own,
                    wanted.get(hotkey, 0) - own if hotkey == float_hotkey else 0,
                    stakes.get(hotkey, 0),
                    flying.get(hotkey, 0),
                    block,
                    d.since_block if d else None,
                    d is not None and d.checked_block - d.since_block >= alert_blocks,
                )
            )
    return rows


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
