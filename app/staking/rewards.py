"""Reward distribution per (subnet, validator hotkey, epoch).

The method, for the custody position with one hotkey on one subnet:

1. An epoch boundary is detected from indexed blocks: the subnet's `SubnetEpochIndex` (the
   chain's epoch counter, indexed with every block in `subnet_history.epoch_index`)
   advances. The runtime schedules epochs with state (`LastEpochBlock + tempo`, owner-
   triggered and deferred epochs at `PendingEpochAt`), so no formula of the block number
   can tell. The period is `(start, end]`: from the previous distribution's end block to the
   first indexed block of the new epoch. A block's periods close once both the indexer (the
   positions) and the custody scanner (the stake flows) have processed it
   (`distribute_ready`). A position seen for the first time opens its series with a
   `baseline` row at the block before (the stake it held then; 0 if none).
2. growth = stake(end) - stake(start) - net flow, where stake is the sum over custody
   coldkeys of the indexed `custody_positions.stake`, and net flow is stake the exchange
   itself moved in or out on chain in the period (`staking_chain_flows`, from the scanner:
   sweeps, alpha withdrawals, the stake manager's moves, fees in alpha; admin corrections).
   Growth <= 0 books nothing (`loss`).
3. Users earn for their part of the position: the chain pays the emission pro rata to the
   stake held when the epoch runs, i.e. to what the position held before it
   (start + net flow) over the period (`position_weight`). Users' share is their total
   time-weighted allocation over it (at most all); the rest is `retained` (earned by stake
   nobody allocated there: the float, the exchange's own earnings) and goes to `fees`.
4. commission = earned * commission_bps // 10000 to the `fees` account. The rest goes to the
   users allocated to the hotkey pro rata to their time-weighted balance: weight = sum over
   the period of balance x blocks held (an allocation event stamped at block b counts from
   b+1). Each user gets floor(pool * weight / total); the remainder (< number of users rao)
   goes to the `rounding` account. users + commission + rounding + retained == growth,
   exactly. No stakers in the period: the whole growth goes to `fees` (`unclaimed`).
5. A user's reward is credited to their `staked` account and added to their allocation
   with that hotkey (it compounds, as on chain), or to `available` if they no longer hold
   an allocation with it. Every leg debits the asset's `custody` account, which mirrors
   the alpha held on chain.
6. One `apply_batch` per distribution with deterministic transfer ids
   `reward:{netuid}:{hotkey}:{epoch}:{user_id}` (and `:fees`, `:rounding`, `:retained`), and
   a unique (subnet, hotkey, epoch) row: re-running a block or the whole indexer never pays
   twice.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.indexer.service import SyncResult
from app.ledger.service import TransferSpec, apply_batch, get_account_id, system_account_id
from app.models import (
    CustodyPosition,
    CustodyScanState,
    IndexerState,
    Market,
    RewardDistribution,
    StakingAllocation,
    StakingChainFlow,
    StakingReward,
    StakingRewardState,
    Subnet,
    SubnetHistory,
)
from app.staking.service import (
    _record_event,
    add_to_allocation,
    release_due_unbondings,
    staking_settings,
)

log = logging.getLogger("app.staking")


@dataclass(frozen=True, slots=True)
class Payout:
    user_id: int
    weight: int
    amount: int


@dataclass(frozen=True, slots=True)
class Split:
    commission: int
    payouts: list[Payout]
    rounding: int
    retained: int = 0  # earned by stake users had not allocated there: the exchange's


def split_reward(
    growth: int, commission_bps: int, weights: dict[int, int], position_weight: int | None = None
) -> Split:
    """Pure arithmetic of one distribution (integers only; sums to `growth` exactly).

    `position_weight`: the position's stake x blocks over the period (None: the position is
    all users'). Users' share of the growth is their weight over it (at most all of it);
    the rest is `retained`."""
    if growth <= 0:
        return Split(0, [], 0)
    total = sum(w for w in weights.values() if w > 0)
    if total <= 0:
        return Split(growth, [], 0)
    earned = growth
    if position_weight is not None and position_weight > 0 and total < position_weight:
        earned = growth * total // position_weight
    commission = earned * commission_bps // 10_000
    pool = earned - commission
    payouts = [
        Payout(user_id, weight, pool * weight // total)
        for user_id, weight in sorted(weights.items())
        if weight > 0
    ]
    rounding = pool - sum(p.amount for p in payouts)
    return Split(commission, payouts, rounding, growth - earned)


async def time_weights(
    session: AsyncSession, subnet_id: int, hotkey: str, start: int, end: int
) -> dict[int, int]:
    """Per user: allocated alpha-rao x blocks over (start, end]."""
    rows = await session.execute(
        text(
            """
            SELECT user_id, sum(CAST(delta AS numeric) *
                   (CAST(:end AS bigint) - GREATEST(block_number, CAST(:start AS bigint)))) AS w
            FROM staking_allocation_events
            WHERE subnet_id = :subnet AND hotkey = :hotkey AND block_number <= :end
            GROUP BY user_id
            """
        ),
        {"subnet": subnet_id, "hotkey": hotkey, "start": start, "end": end},
    )
    return {int(r.user_id): int(r.w) for r in rows if r.w and int(r.w) > 0}


async def _stakes_at(session: AsyncSession, subnet_id: int, block: int) -> dict[str, int]:
    rows = await session.execute(
        select(CustodyPosition.hotkey, func.sum(CustodyPosition.stake))
        .where(CustodyPosition.subnet_id == subnet_id, CustodyPosition.block_number == block)
        .group_by(CustodyPosition.hotkey)
    )
    return {hotkey: int(stake) for hotkey, stake in rows}


async def _latest_distributions(
    session: AsyncSession, subnet_id: int
) -> dict[str, RewardDistribution]:
    rows = await session.scalars(
        select(RewardDistribution)
        .where(RewardDistribution.subnet_id == subnet_id)
        .ext(distinct_on(RewardDistribution.hotkey))
        .order_by(RewardDistribution.hotkey, RewardDistribution.epoch.desc())
    )
    return {d.hotkey: d for d in rows}


async def _net_flow(
    session: AsyncSession, subnet_id: int, hotkey: str, start: int, end: int
) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(StakingChainFlow.amount), 0)).where(
            StakingChainFlow.subnet_id == subnet_id,
            StakingChainFlow.hotkey == hotkey,
            StakingChainFlow.block_number > start,
            StakingChainFlow.block_number <= end,
        )
    )
    return int(total or 0)


async def distribute_block(session: AsyncSession, block: int) -> list[RewardDistribution]:
    """Close every (listed subnet, custody hotkey) period that an epoch boundary at `block`
    ends. `block` must be indexed. Idempotent: already-closed epochs are skipped."""
    created: list[RewardDistribution] = []
    rows = await session.execute(
        select(Market, Subnet, SubnetHistory.epoch_index)
        .join(Subnet, Subnet.id == Market.subnet_id)
        .join(
            SubnetHistory,
            (SubnetHistory.subnet_id == Subnet.id) & (SubnetHistory.block_number == block),
        )
        .where(Subnet.status == "active")
        .order_by(Market.netuid)
    )
    for market, subnet, epoch in rows:
        created += await distribute_subnet(session, market, subnet, block, epoch)
    return created


async def distribute_subnet(
    session: AsyncSession, market: Market, subnet: Subnet, block: int, epoch: int
) -> list[RewardDistribution]:
    """`epoch`: the subnet's `SubnetEpochIndex` at `block` (the indexed state of the block
    that runs an epoch already holds its emission and the advanced index)."""
    stakes = await _stakes_at(session, subnet.id, block)
    latest = await _latest_distributions(session, subnet.id)
    hotkeys = set(stakes) | {h for h, d in latest.items() if d.end_stake > 0}
    created: list[RewardDistribution] = []
    for hotkey in sorted(hotkeys):
        previous = latest.get(hotkey)
        end_stake = stakes.get(hotkey, 0)
        if previous is None:
            # A position first seen: its series opens at the block before, when the indexer
            # saw the subnet then (the stake it held, 0 if none: what moved in at this block
            # is a flow, what it earned at a deposit address before a sweep is growth);
            # else at this block.
            before = await session.scalar(
                select(SubnetHistory.epoch_index).where(
                    SubnetHistory.subnet_id == subnet.id, SubnetHistory.block_number == block - 1
                )
            )
            at = block if before is None else block - 1
            stake = (
                end_stake
                if before is None
                else (await _stakes_at(session, subnet.id, at)).get(hotkey, 0)
            )
            previous = await _insert_distribution(
                session,
                market,
                subnet,
                hotkey,
                epoch=epoch if before is None else int(before),
                kind="baseline",
                start_block=at,
                end_block=at,
                start_stake=stake,
                end_stake=stake,
                net_flow=0,
                growth=0,
                commission_bps=0,
                split=Split(0, [], 0),
                total_weight=0,
            )
            created.append(previous)
        if epoch <= previous.epoch or block <= previous.end_block:
            continue
        created.append(
            await _distribute(session, market, subnet, hotkey, previous, epoch, block, end_stake)
        )
    return created


async def _distribute(
    session: AsyncSession,
    market: Market,
    subnet: Subnet,
    hotkey: str,
    previous: RewardDistribution,
    epoch: int,
    block: int,
    end_stake: int,
) -> RewardDistribution:
    start = previous.end_block
    net_flow = await _net_flow(session, subnet.id, hotkey, start, block)
    growth = end_stake - previous.end_stake - net_flow
    settings = await staking_settings(session, market.id)
    weights = await time_weights(session, subnet.id, hotkey, start, block)
    # The chain pays a period's emission at its epoch block, pro rata to the stake held
    # then: the position earned for what it held before the emission (start + flows). Users
    # are owed their time-weighted allocations' share of that; the rest is the exchange's.
    position_weight = max(0, previous.end_stake + net_flow) * (block - start)
    split = split_reward(growth, settings.commission_bps, weights, position_weight)
    if growth <= 0:
        kind = "loss"
    elif not split.payouts:
        kind = "unclaimed"
    else:
        kind = "reward"
    if growth < 0:
        log.warning(
            "custody position shrank without a recorded flow",
            extra={"netuid": subnet.netuid, "hotkey": hotkey, "block": block, "growth": growth},
        )
    return await _insert_distribution(
        session,
        market,
        subnet,
        hotkey,
        epoch=epoch,
        kind=kind,
        start_block=start,
        end_block=block,
        start_stake=previous.end_stake,
        end_stake=end_stake,
        net_flow=net_flow,
        growth=growth,
        commission_bps=settings.commission_bps,
        split=split,
        total_weight=sum(weights.values()),
        position_weight=position_weight,
    )


def reward_transfer_id(netuid: int, hotkey: str, epoch: int, leg: int | str) -> str:
    return f"reward:{netuid}:{hotkey}:{epoch}:{leg}"


async def _insert_distribution(
    session: AsyncSession,
    market: Market,
    subnet: Subnet,
    hotkey: str,
    *,
    epoch: int,
    kind: str,
    start_block: int,
    end_block: int,
    start_stake: int,
    end_stake: int,
    net_flow: int,
    growth: int,
    commission_bps: int,
    split: Split,
    total_weight: int,
    position_weight: int = 0,
) -> RewardDistribution:
    asset = market.base_asset
    batch_id = None
    still_allocated: set[int] = set()
    if split.payouts or split.commission or split.rounding or split.retained:
        custody = await system_account_id(session, asset, "custody")
        if split.payouts:
            still_allocated = set(
                await session.scalars(
                    select(StakingAllocation.user_id)
                    .where(
                        StakingAllocation.subnet_id == subnet.id,
                        StakingAllocation.hotkey == hotkey,
                        StakingAllocation.user_id.in_([p.user_id for p in split.payouts]),
                        StakingAllocation.amount > 0,
                    )
                    # Allocation rows before ledger accounts, as everywhere in staking.
                    .with_for_update()
                )
            )
        specs: list[TransferSpec] = []
        reference = f"{subnet.netuid}:{hotkey}:{epoch}"
        for payout in split.payouts:
            if payout.amount == 0:
                continue
            kind_credited = "staked" if payout.user_id in still_allocated else "available"
            specs.append(
                TransferSpec(
                    reward_transfer_id(subnet.netuid, hotkey, epoch, payout.user_id),
                    custody,
                    await get_account_id(session, payout.user_id, asset, kind_credited),
                    payout.amount,
                    "stake_reward",
                    reference,
                )
            )
        for leg, amount, code in (
            ("fees", split.commission, "stake_commission"),
            ("rounding", split.rounding, "stake_rounding"),
            ("retained", split.retained, "stake_retained"),
        ):
            if amount:
                specs.append(
                    TransferSpec(
                        reward_transfer_id(subnet.netuid, hotkey, epoch, leg),
                        custody,
                        await system_account_id(
                            session, asset, "fees" if leg == "retained" else leg
                        ),
                        amount,
                        code,
                        reference,
                    )
                )
        if specs:
            batch_id = (await apply_batch(session, specs)).batch_id
    distribution = RewardDistribution(
        subnet_id=subnet.id,
        netuid=subnet.netuid,
        hotkey=hotkey,
        asset=asset,
        epoch=epoch,
        kind=kind,
        start_block=start_block,
        end_block=end_block,
        start_stake=start_stake,
        end_stake=end_stake,
        net_flow=net_flow,
        growth=growth,
        commission_bps=commission_bps,
        commission=split.commission,
        users_total=sum(p.amount for p in split.payouts),
        rounding=split.rounding,
        retained=split.retained,
        total_weight=total_weight,
        position_weight=position_weight,
        batch_id=batch_id,
    )
    session.add(distribution)
    await session.flush()
    for payout in split.payouts:
        transfer_id = (
            reward_transfer_id(subnet.netuid, hotkey, epoch, payout.user_id)
            if payout.amount
            else None
        )
        session.add(
            StakingReward(
                distribution_id=distribution.id,
                user_id=payout.user_id,
                weight=payout.weight,
                amount=payout.amount,
                transfer_id=transfer_id,
            )
        )
        if payout.amount and payout.user_id in still_allocated:
            await add_to_allocation(session, payout.user_id, subnet.id, hotkey, payout.amount)
            await _record_event(
                session,
                user_id=payout.user_id,
                subnet_id=subnet.id,
                hotkey=hotkey,
                kind="reward",
                delta=payout.amount,
                block=end_block,
                transfer_id=transfer_id,
            )
    await session.flush()
    return distribution


async def distribute_ready(
    session: AsyncSession, indexed_block: int | None = None
) -> list[RewardDistribution]:
    """Close the reward periods of every indexed block, in order, that the custody scanner
    has also processed: a period's growth needs the positions (indexer) and the stake flows
    of its blocks (scanner: sweeps, withdrawals, the stake manager's moves), and the two
    follow the chain independently. Called by both after each block, in its transaction;
    whichever comes second closes it (the other one skips while it holds the state row).
    Without a custody scanner, the indexed blocks alone."""
    await session.execute(
        insert(StakingRewardState)
        .values(id=1, last_block=-1)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    state = await session.scalar(select(StakingRewardState).with_for_update(skip_locked=True))
    if state is None:
        return []  # the other follower is closing periods now
    indexed = indexed_block
    if indexed is None:
        indexed = await session.scalar(select(IndexerState.last_block))
    scanned = await session.scalar(select(CustodyScanState.last_block))
    ready = indexed if scanned is None or indexed is None else min(indexed, scanned)
    if ready is None or ready <= state.last_block:
        return []
    since = state.last_block if state.last_block >= 0 else ready - 1
    blocks = await session.scalars(
        select(SubnetHistory.block_number)
        .where(
            SubnetHistory.subnet_id.in_(select(Market.subnet_id)),
            SubnetHistory.block_number > since,
            SubnetHistory.block_number <= ready,
        )
        .distinct()
        .order_by(SubnetHistory.block_number)
    )
    created: list[RewardDistribution] = []
    for block in list(blocks):
        created += await distribute_block(session, block)
    state.last_block = ready
    await session.flush()
    return created


async def staking_sync_listener(session: AsyncSession, result: SyncResult) -> None:
    """Indexer listener: inside each indexed block's transaction, release due unbondings
    and close the reward periods that are ready (`distribute_ready`)."""
    if result.skipped:
        return
    await release_due_unbondings(session, result.block_number)
    await distribute_ready(session, result.block_number)


async def user_rewards(
    session: AsyncSession, user_id: int, *, limit: int, before_id: int | None
) -> Sequence[tuple[StakingReward, RewardDistribution]]:
    stmt = (
        select(StakingReward, RewardDistribution)
        .join(RewardDistribution, RewardDistribution.id == StakingReward.distribution_id)
        .where(StakingReward.user_id == user_id)
        .order_by(StakingReward.distribution_id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(StakingReward.distribution_id < before_id)
    return [(r, d) for r, d in await session.execute(stmt)]
