"""Allocations: a user's alpha moves `available -> staked` in the ledger (one `stake`
transfer) and is assigned to a validator hotkey here; deallocating reverses it, at once or
after the market's unbonding period.

Invariant (checked by `check_staking`): per (user, asset), the ledger `staked` balance equals
the user's allocations plus their pending unbondings of that asset.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.ledger.service import TransferSpec, apply_batch, parse_amount, user_account_ids
from app.markets.errors import MarketDelisted, MarketHalted
from app.markets.rules import DELISTED, HALTED
from app.markets.service import get_market
from app.models import (
    IndexerState,
    Market,
    StakingAllocation,
    StakingAllocationEvent,
    StakingSettings,
    StakingUnbonding,
    Validator,
)
from app.models.staking_settings import DEFAULT_COMMISSION_BPS, DEFAULT_UNBONDING_BLOCKS
from app.staking.errors import (
    AllocationExceeded,
    AllocationNotFound,
    InvalidHotkey,
    InvalidStakingSetting,
    ValidatorNotFound,
    ValidatorOfAnotherSubnet,
    ValidatorWithoutPermit,
)

MAX_UNBONDING_BLOCKS = 7200 * 365  # a year
MAX_COMMISSION_BPS = 10_000


@dataclass(frozen=True, slots=True)
class EffectiveSettings:
    commission_bps: int
    unbonding_blocks: int


@dataclass(frozen=True, slots=True)
class DeallocationResult:
    allocation: StakingAllocation
    amount: int
    unbonding: StakingUnbonding | None  # None: returned to `available` at once


async def current_block(session: AsyncSession) -> int:
    """The last indexed block: allocation events are stamped with it."""
    return int(await session.scalar(select(IndexerState.last_block)) or 0)


async def staking_settings(session: AsyncSession, market_id: int) -> EffectiveSettings:
    row = await session.get(StakingSettings, market_id)
    if row is None:
        return EffectiveSettings(DEFAULT_COMMISSION_BPS, DEFAULT_UNBONDING_BLOCKS)
    return EffectiveSettings(row.commission_bps, int(row.unbonding_blocks))


async def update_settings(
    session: AsyncSession,
    market: Market,
    *,
    commission_bps: int | None,
    unbonding_blocks: int | None,
) -> EffectiveSettings:
    current = await staking_settings(session, market.id)
    commission = current.commission_bps if commission_bps is None else commission_bps
    unbonding = current.unbonding_blocks if unbonding_blocks is None else unbonding_blocks
    if not 0 <= commission <= MAX_COMMISSION_BPS:
        raise InvalidStakingSetting(f"commission_bps must be between 0 and {MAX_COMMISSION_BPS}")
    if not 0 <= unbonding <= MAX_UNBONDING_BLOCKS:
        raise InvalidStakingSetting(
            f"unbonding_blocks must be between 0 and {MAX_UNBONDING_BLOCKS}"
        )
    stmt = insert(StakingSettings).values(
        market_id=market.id, commission_bps=commission, unbonding_blocks=unbonding
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["market_id"],
            set_={
                "commission_bps": commission,
                "unbonding_blocks": unbonding,
                "updated_at": func.now(),
            },
        )
    )
    return EffectiveSettings(commission, unbonding)


def _check_hotkey(hotkey: object) -> str:
    if not isinstance(hotkey, str) or not 1 <= len(hotkey) <= 64:
        raise InvalidHotkey("hotkey must be an SS58 address")
    return hotkey


async def require_validator(session: AsyncSession, market: Market, hotkey: str) -> Validator:
    """The hotkey as a permitted validator of the market's subnet (distinct errors for an
    unknown hotkey, one registered on another subnet, and one without a permit)."""
    rows = list(await session.scalars(select(Validator).where(Validator.hotkey == hotkey)))
    if not rows:
        raise ValidatorNotFound(f"no validator {hotkey} is indexed")
    mine = next((v for v in rows if v.subnet_id == market.subnet_id), None)
    if mine is None:
        raise ValidatorOfAnotherSubnet(
            f"{hotkey} is not a validator of subnet {market.netuid}",
            details={"netuids_elsewhere": sorted({v.subnet_id for v in rows})},
        )
    if not mine.validator_permit:
        raise ValidatorWithoutPermit(f"{hotkey} has no validator permit on subnet {market.netuid}")
    return mine


def _require_stakeable(market: Market) -> None:
    if market.state == HALTED:
        raise MarketHalted(f"market {market.symbol} is halted: no new allocations")
    if market.state == DELISTED:
        raise MarketDelisted(f"market {market.symbol} is delisted")


async def _record_event(
    session: AsyncSession,
    *,
    user_id: int,
    subnet_id: int,
    hotkey: str,
    kind: str,
    delta: int,
    block: int,
    transfer_id: str | None,
) -> None:
    session.add(
        StakingAllocationEvent(
            user_id=user_id,
            subnet_id=subnet_id,
            hotkey=hotkey,
            kind=kind,
            delta=delta,
            block_number=block,
            transfer_id=transfer_id,
        )
    )


async def allocate(
    session: AsyncSession, user_id: int, symbol: str, hotkey: object, amount: object
) -> StakingAllocation:
    """Move `amount` alpha-rao of the market's asset from available to staked, backing
    `hotkey`. Every check happens before anything is written."""
    value = parse_amount(amount)
    hotkey = _check_hotkey(hotkey)
    market = await get_market(session, symbol)
    _require_stakeable(market)
    await require_validator(session, market, hotkey)
    block = await current_block(session)

    # Lock order everywhere in staking: allocation rows, then ledger accounts (no deadlock
    # with a reward distribution, a delisting or another allocation). The row is created
    # empty first, so that there is always a row to lock before the accounts.
    owner = {
        "user_id": user_id,
        "market_id": market.id,
        "subnet_id": market.subnet_id,
        "asset": market.base_asset,
        "hotkey": hotkey,
    }
    await session.execute(
        insert(StakingAllocation)
        .values(**owner, amount=0)
        .on_conflict_do_nothing(constraint="uq_staking_allocations_owner")
    )
    allocation_id = await session.scalar(
        select(StakingAllocation.id)
        .where(
            StakingAllocation.user_id == user_id,
            StakingAllocation.subnet_id == market.subnet_id,
            StakingAllocation.hotkey == hotkey,
        )
        .with_for_update()
    )
    accounts = await user_account_ids(session, user_id, market.base_asset)
    transfer_id = f"stake:{uuid.uuid4().hex}"
    await apply_batch(
        session,
        [
            TransferSpec(
                transfer_id,
                accounts["available"],
                accounts["staked"],
                value,
                "stake",
                reference=f"{market.netuid}:{hotkey}",
            )
        ],
    )
    await session.execute(
        update(StakingAllocation)
        .where(StakingAllocation.id == allocation_id)
        .values(amount=StakingAllocation.amount + value, updated_at=func.now())
    )
    await _record_event(
        session,
        user_id=user_id,
        subnet_id=market.subnet_id,
        hotkey=hotkey,
        kind="allocate",
        delta=value,
        block=block,
        transfer_id=transfer_id,
    )
    await session.flush()
    allocation = await session.get(StakingAllocation, allocation_id, populate_existing=True)
    assert allocation is not None
    return allocation


def _taken(
    allocation: StakingAllocation | None, amount: object | None, hotkey: str, market: Market
) -> tuple[StakingAllocation, int]:
    """The allocation and how much of it to take (`amount`; None: all of it)."""
    if allocation is None or allocation.amount == 0:
        raise AllocationNotFound(f"nothing allocated to {hotkey} in {market.symbol}")
    value = allocation.amount if amount is None else parse_amount(amount)
    if value > allocation.amount:
        raise AllocationExceeded(
            f"only {allocation.amount} allocated to {hotkey}",
            details={"allocated": str(allocation.amount)},
        )
    return allocation, value


async def deallocate(
    session: AsyncSession, user_id: int, symbol: str, hotkey: object, amount: object | None
) -> DeallocationResult:
    """Take `amount` (default: all) off the allocation. Allowed on halted markets, so users
    can always leave; with an unbonding period the alpha waits in `staked`, earning nothing."""
    hotkey = _check_hotkey(hotkey)
    market = await get_market(session, symbol)
    allocation = await session.scalar(
        select(StakingAllocation)
        .where(
            StakingAllocation.user_id == user_id,
            StakingAllocation.subnet_id == market.subnet_id,
            StakingAllocation.hotkey == hotkey,
        )
        .with_for_update()
    )
    allocation, value = _taken(allocation, amount, hotkey, market)
    settings = await staking_settings(session, market.id)
    block = await current_block(session)
    unbonding: StakingUnbonding | None = None
    transfer_id: str | None = None
    if settings.unbonding_blocks == 0:
        accounts = await user_account_ids(session, user_id, market.base_asset)
        transfer_id = f"unstake:{uuid.uuid4().hex}"
        await apply_batch(
            session,
            [
                TransferSpec(
                    transfer_id,
                    accounts["staked"],
                    accounts["available"],
                    value,
                    "unstake",
                    reference=f"{market.netuid}:{hotkey}",
                )
            ],
        )
    else:
        unbonding = StakingUnbonding(
            user_id=user_id,
            market_id=market.id,
            subnet_id=market.subnet_id,
            asset=market.base_asset,
            hotkey=hotkey,
            amount=value,
            requested_block=block,
            release_block=block + settings.unbonding_blocks,
            state="pending",
        )
        session.add(unbonding)
    allocation.amount -= value
    await _record_event(
        session,
        user_id=user_id,
        subnet_id=market.subnet_id,
        hotkey=hotkey,
        kind="deallocate",
        delta=-value,
        block=block,
        transfer_id=transfer_id,
    )
    await session.flush()
    return DeallocationResult(allocation, value, unbonding)


@dataclass(frozen=True, slots=True)
class MoveResult:
    origin: StakingAllocation
    destination: StakingAllocation
    amount: int


async def move(
    session: AsyncSession,
    user_id: int,
    symbol: str,
    from_hotkey: object,
    to_hotkey: object,
    amount: object | None,
) -> MoveResult:
    """Re-delegate `amount` (default: all) of an allocation to another validator of the same
    subnet: it stays staked (no unbonding, as `move_stake` on chain), the stake manager
    moves the alpha. Refused on halted and delisted markets, like a new allocation."""
    origin_key = _check_hotkey(from_hotkey)
    destination_key = _check_hotkey(to_hotkey)
    if origin_key == destination_key:
        raise InvalidHotkey("from_hotkey and to_hotkey are the same validator")
    market = await get_market(session, symbol)
    _require_stakeable(market)
    await require_validator(session, market, destination_key)
    await session.execute(
        insert(StakingAllocation)
        .values(
            user_id=user_id,
            market_id=market.id,
            subnet_id=market.subnet_id,
            asset=market.base_asset,
            hotkey=destination_key,
            amount=0,
        )
        .on_conflict_do_nothing(constraint="uq_staking_allocations_owner")
    )
    # Both rows locked, in hotkey order (the lock order of every staking write).
    rows = {
        a.hotkey: a
        for a in await session.scalars(
            select(StakingAllocation)
            .where(
                StakingAllocation.user_id == user_id,
                StakingAllocation.subnet_id == market.subnet_id,
                StakingAllocation.hotkey.in_([origin_key, destination_key]),
            )
            .order_by(StakingAllocation.hotkey)
            .with_for_update()
        )
    }
    origin, value = _taken(rows.get(origin_key), amount, origin_key, market)
    destination = rows[destination_key]
    block = await current_block(session)
    origin.amount -= value
    destination.amount += value
    for hotkey, delta, kind in (
        (origin_key, -value, "deallocate"),
        (destination_key, value, "allocate"),
    ):
        await _record_event(
            session,
            user_id=user_id,
            subnet_id=market.subnet_id,
            hotkey=hotkey,
            kind=kind,
            delta=delta,
            block=block,
            transfer_id=None,
        )
    await session.flush()
    return MoveResult(origin, destination, value)


async def release_due_unbondings(session: AsyncSession, block: int) -> int:
    """Return every unbonding whose period ended at or before `block` to `available`
    (idempotent: one transfer id per unbonding). Returns how many were released."""
    due = list(
        await session.scalars(
            select(StakingUnbonding)
            .where(StakingUnbonding.state == "pending", StakingUnbonding.release_block <= block)
            .order_by(StakingUnbonding.id)
            .with_for_update(skip_locked=True)
        )
    )
    for unbonding in due:
        await _release_unbonding(session, unbonding)
    await session.flush()
    return len(due)


async def _release_unbonding(session: AsyncSession, unbonding: StakingUnbonding) -> None:
    accounts = await user_account_ids(session, unbonding.user_id, unbonding.asset)
    await apply_batch(
        session,
        [
            TransferSpec(
                f"unbond:{unbonding.id}",
                accounts["staked"],
                accounts["available"],
                unbonding.amount,
                "unstake",
                reference=f"unbonding:{unbonding.id}",
            )
        ],
    )
    unbonding.state = "released"
    unbonding.released_at = datetime.now(UTC)


async def release_market(session: AsyncSession, market: Market) -> int:
    """Delisting: every allocation and pending unbonding of the market goes back to
    `available` (one `unstake` per user). Returns the number of users released."""
    block = await current_block(session)
    allocations = list(
        await session.scalars(
            select(StakingAllocation)
            .where(StakingAllocation.market_id == market.id, StakingAllocation.amount > 0)
            .order_by(StakingAllocation.user_id, StakingAllocation.hotkey)
            .with_for_update()
        )
    )
    per_user: dict[int, int] = {}
    for allocation in allocations:
        per_user[allocation.user_id] = per_user.get(allocation.user_id, 0) + allocation.amount
        await _record_event(
            session,
            user_id=allocation.user_id,
            subnet_id=allocation.subnet_id,
            hotkey=allocation.hotkey,
            kind="release",
            delta=-allocation.amount,
            block=block,
            transfer_id=f"delist:{market.id}:{allocation.user_id}",
        )
        allocation.amount = 0
    pending = list(
        await session.scalars(
            select(StakingUnbonding)
            .where(StakingUnbonding.market_id == market.id, StakingUnbonding.state == "pending")
            .with_for_update()
        )
    )
    for unbonding in pending:
        per_user[unbonding.user_id] = per_user.get(unbonding.user_id, 0) + unbonding.amount
        unbonding.state = "released"
        unbonding.released_at = datetime.now(UTC)
    for user_id, amount in sorted(per_user.items()):
        accounts = await user_account_ids(session, user_id, market.base_asset)
        await apply_batch(
            session,
            [
                TransferSpec(
                    f"delist:{market.id}:{user_id}",
                    accounts["staked"],
                    accounts["available"],
                    amount,
                    "unstake",
                    reference=f"delisted:{market.symbol}",
                )
            ],
        )
    await session.flush()
    return len(per_user)


async def release_on_delisting(session: AsyncSession, market: Market, old: str, new: str) -> None:
    """Market listener: a delisted market's allocations return to `available`."""
    if new == DELISTED and old != DELISTED:
        await release_market(session, market)


@dataclass(frozen=True, slots=True)
class StakingMismatch:
    user_id: int
    asset: str
    ledger_staked: int
    allocated: int
    unbonding: int


async def check_staking(session: AsyncSession) -> list[StakingMismatch]:
    """Per (user, asset): ledger `staked` == allocations + pending unbondings."""
    rows = await session.execute(
        text(
            """
            WITH alloc AS (
                SELECT user_id, asset, sum(amount) AS s FROM staking_allocations
                GROUP BY user_id, asset
            ), unb AS (
                SELECT user_id, asset, sum(amount) AS s FROM staking_unbondings
                WHERE state = 'pending' GROUP BY user_id, asset
            ), led AS (
                SELECT user_id, asset, balance AS s FROM ledger_accounts WHERE kind = 'staked'
            ), keys AS (
                SELECT user_id, asset FROM alloc UNION SELECT user_id, asset FROM unb
                UNION SELECT user_id, asset FROM led
            )
            SELECT k.user_id, k.asset, COALESCE(led.s, 0) AS ledger_staked,
                   COALESCE(alloc.s, 0) AS allocated, COALESCE(unb.s, 0) AS unbonding
            FROM keys k
            LEFT JOIN led USING (user_id, asset)
            LEFT JOIN alloc USING (user_id, asset)
            LEFT JOIN unb USING (user_id, asset)
            WHERE COALESCE(led.s, 0) <> COALESCE(alloc.s, 0) + COALESCE(unb.s, 0)
            ORDER BY k.user_id, k.asset
            """
        )
    )
    return [
        StakingMismatch(
            int(r.user_id), r.asset, int(r.ledger_staked), int(r.allocated), int(r.unbonding)
        )
        for r in rows
    ]


async def user_allocations(
    session: AsyncSession, user_id: int
) -> list[tuple[StakingAllocation, Market]]:
    rows = await session.execute(
        select(StakingAllocation, Market)
        .join(Market, Market.id == StakingAllocation.market_id)
        .where(StakingAllocation.user_id == user_id, StakingAllocation.amount > 0)
        .order_by(Market.netuid, StakingAllocation.hotkey)
    )
    return [(a, m) for a, m in rows]


async def user_unbondings(
    session: AsyncSession, user_id: int
) -> list[tuple[StakingUnbonding, Market]]:
    rows = await session.execute(
        select(StakingUnbonding, Market)
        .join(Market, Market.id == StakingUnbonding.market_id)
        .where(StakingUnbonding.user_id == user_id, StakingUnbonding.state == "pending")
        .order_by(StakingUnbonding.id)
    )
    return [(u, m) for u, m in rows]


async def add_to_allocation(
    session: AsyncSession, user_id: int, subnet_id: int, hotkey: str, amount: int
) -> None:
    await session.execute(
        update(StakingAllocation)
        .where(
            StakingAllocation.user_id == user_id,
            StakingAllocation.subnet_id == subnet_id,
            StakingAllocation.hotkey == hotkey,
        )
        .values(amount=StakingAllocation.amount + amount, updated_at=func.now())
    )
