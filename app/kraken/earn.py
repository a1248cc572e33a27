"""Kraken Earn, adapted onto staking: one strategy per subnet validator; allocating moves
alpha to the native allocation with that validator (app.staking.service)."""

from fractions import Fraction
from typing import Any

from sqlalchemy import func, select

from app.kit.units import fraction_str, quote_amount
from app.kraken.context import Context
from app.kraken.errors import KrakenError, invalid_arguments
from app.kraken.schemas import units
from app.markets.rules import DELISTED, HALTED
from app.models import Market, RewardDistribution, StakingReward, Subnet
from app.staking import reconciliation, service

BLOCK_SECONDS = 12
STRATEGY_ID = "EGeneral:Invalid arguments:strategy_id"


def strategy_id(asset: str, hotkey: str) -> str:
    """'SN64-5F...': the alpha's ticker and the validator's hotkey (reversible)."""
    return f"{asset}-{hotkey}"


async def _strategy(ctx: Context) -> tuple[Market, str]:
    sid = ctx.params.text("strategy_id")
    if sid is None or "-" not in sid or len(sid) > 100:
        raise KrakenError(STRATEGY_ID)
    asset, hotkey = sid.split("-", 1)
    market = await ctx.session.scalar(select(Market).where(Market.base_asset == asset))
    if market is None or not hotkey:
        raise KrakenError(STRATEGY_ID)
    return market, hotkey


def _percent(rate: Fraction | None) -> str:
    if rate is None or rate <= 0:
        return "0.00"
    return fraction_str(rate * 100, 2)


async def strategies(ctx: Context) -> dict[str, Any]:
    asset = ctx.params.text("asset")
    lock = ctx.params.text("lock_type")
    markets = await ctx.session.scalars(
        select(Market).where(Market.state != DELISTED).order_by(Market.netuid)
    )
    items = []
    for m in markets:
        if asset is not None and asset.upper() != m.base_asset:
            continue
        settings = await service.staking_settings(ctx.session, m.id)
        bonded = settings.unbonding_blocks > 0
        lock_type: dict[str, Any] = (
            {
                "type": "bonded",
                "payout_frequency": 360 * BLOCK_SECONDS,
                "bonding_period": 0,
                "bonding_period_variable": False,
                "bonding_rewards": False,
                "unbonding_period": settings.unbonding_blocks * BLOCK_SECONDS,
                "unbonding_period_variable": False,
                "unbonding_rewards": False,
                "exit_queue_period": 0,
            }
            if bonded
            else {"type": "instant", "payout_frequency": 360 * BLOCK_SECONDS}
        )
        if lock is not None and lock not in (lock_type["type"],):
            continue
        keep = Fraction(10_000 - settings.commission_bps, 10_000)
        for view in await reconciliation.validators_of(ctx.session, m):
            v = view.validator
            if not v.validator_permit:  # a registered hotkey without a permit: a miner
                continue
            net = None if view.apr is None else view.apr * keep
            items.append(
                {
                    "id": strategy_id(m.base_asset, v.hotkey),
                    "asset": m.base_asset,
                    "lock_type": lock_type,
                    "apr_estimate": {"low": _percent(net), "high": _percent(net)},
                    "user_min_allocation": units(1),
                    "allocation_fee": "0",
                    "deallocation_fee": "0",
                    "auto_compound": {"type": "enabled"},
                    "yield_source": {"type": "staking"},
                    "can_allocate": m.state != HALTED,
                    "can_deallocate": True,
                    "allocation_restriction_info": [],
                    "validator": {
                        "hotkey": v.hotkey,
                        "name": v.name,
                        "uid": v.uid,
                        "take_bps": v.take * 10_000 // 65_535,
                    },
                }
            )
    # Kraken's paging: `limit` items from `cursor` (here: the offset of the next page).
    offset = ctx.params.integer("cursor", 0) or 0
    limit = ctx.params.integer("limit", len(items) or 1, minimum=1) or 1
    if ctx.params.flag("ascending") is False and ctx.params.text("ascending") is not None:
        items.reverse()
    page = items[offset : offset + limit]
    more = offset + limit < len(items)
    return {"items": page, "next_cursor": str(offset + limit) if more else None}


async def allocations(ctx: Context) -> dict[str, Any]:
    converted = (ctx.params.text("converted_asset") or "TAO").upper()
    if converted != "TAO":
        raise invalid_arguments("converted_asset")
    hide_zero = ctx.params.flag("hide_zero_allocations")
    prices = dict(
        (
            await ctx.session.execute(
                select(Market.id, Subnet.price_rao).join(Subnet, Subnet.id == Market.subnet_id)
            )
        ).all()
    )
    rewards = dict(
        (
            await ctx.session.execute(
                select(
                    RewardDistribution.asset + "-" + RewardDistribution.hotkey,
                    func.sum(StakingReward.amount),
                )
                .join(RewardDistribution, RewardDistribution.id == StakingReward.distribution_id)
                .where(StakingReward.user_id == ctx.user_id)
                .group_by(RewardDistribution.asset, RewardDistribution.hotkey)
            )
        ).all()
    )
    entries: dict[str, dict[str, Any]] = {}

    def entry(m: Market, hotkey: str) -> dict[str, Any]:
        sid = strategy_id(m.base_asset, hotkey)
        return entries.setdefault(sid, {"market": m, "allocated": 0, "unbonding": 0})

    for a, m in await service.user_allocations(ctx.session, ctx.user_id):
        entry(m, a.hotkey)["allocated"] += a.amount
    for u, m in await service.user_unbondings(ctx.session, ctx.user_id):
        entry(m, u.hotkey)["unbonding"] += u.amount

    def pair(amount: int, market_id: int) -> dict[str, str]:
        return {
            "native": units(amount),
            "converted": units(quote_amount(int(prices.get(market_id, 0)), amount)),
        }

    items = []
    total_converted = total_rewarded = 0
    for sid, e in entries.items():
        market: Market = e["market"]
        amount = e["allocated"] + e["unbonding"]
        if hide_zero and amount == 0:
            continue
        rewarded = int(rewards.get(sid, 0) or 0)
        price = int(prices.get(market.id, 0))
        total_converted += quote_amount(price, amount)
        total_rewarded += quote_amount(price, rewarded)
        amount_allocated: dict[str, Any] = {"total": pair(amount, market.id)}
        if e["unbonding"]:
            amount_allocated["unbonding"] = {
                **pair(e["unbonding"], market.id),
                "allocation_count": 1,
            }
        items.append(
            {
                "strategy_id": sid,
                "native_asset": market.base_asset,
                "amount_allocated": amount_allocated,
                "total_rewarded": pair(rewarded, market.id),
            }
        )
    return {
        "converted_asset": converted,
        "total_allocated": units(total_converted),
        "total_rewarded": units(total_rewarded),
        "next_cursor": None,
        "items": items,
    }


def _amount(ctx: Context) -> int:
    from app.kraken.schemas import to_units

    return to_units("amount", ctx.params.text("amount", required=True))


async def allocate(ctx: Context) -> bool:
    market, hotkey = await _strategy(ctx)
    await service.allocate(ctx.session, ctx.user_id, market.symbol, hotkey, _amount(ctx))
    return True


async def deallocate(ctx: Context) -> bool:
    market, hotkey = await _strategy(ctx)
    await service.deallocate(ctx.session, ctx.user_id, market.symbol, hotkey, _amount(ctx))
    return True


async def allocate_status(ctx: Context) -> dict[str, bool]:
    """Allocations complete within the request: never pending."""
    await _strategy(ctx)
    return {"pending": False}


async def deallocate_status(ctx: Context) -> dict[str, bool]:
    await _strategy(ctx)
    return {"pending": False}
