"""Fee schedules: each market's own maker/taker fees, and tiers by the user's 30-day quote
volume (over every market) that lower them. Tiers are global, or per market (a market's own
replace the global ones for it). The order sequencer charges each fill at the tier of its
user's volume when its group begins; a buy holds the highest fee of any tier."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.auth.principal import Principal
from app.markets.errors import InvalidFeeTiers
from app.markets.rules import MAX_FEE_BPS
from app.markets.service import get_market, list_markets

Tier = tuple[int, int, int]  # (min_volume rao, maker bps, taker bps)


@dataclass(frozen=True, slots=True)
class MarketFees:
    symbol: str
    schedule: list[Tier]  # the market's own fees at volume 0, then its tiers, ascending
    current: Tier  # the user's
    next: Tier | None  # the next tier up, if any


async def fee_tiers(session: AsyncSession) -> dict[int | None, list[tuple[int, int, int]]]:
    """Every fee tier, by market id (None: the global ones), ascending by volume."""
    out: dict[int | None, list[tuple[int, int, int]]] = {}
    rows = await session.execute(
        text(
            "SELECT market_id, min_volume, maker_fee_bps, taker_fee_bps FROM fee_tiers "
            "ORDER BY market_id NULLS FIRST, min_volume"
        )
    )
    for market_id, volume, maker, taker in rows:
        out.setdefault(market_id, []).append((int(volume), int(maker), int(taker)))
    return out


def tiers_of(
    tiers: dict[int | None, list[tuple[int, int, int]]], market_id: int
) -> tuple[tuple[int, int, int], ...]:
    """A market's tiers: its own if it has any, else the global ones."""
    return tuple(tiers.get(market_id) or tiers.get(None) or ())


async def volumes(session: AsyncSession, users: Iterable[int]) -> dict[int, int]:
    """Each user's quote volume of the last 30 days (today included), in rao."""
    wanted = sorted(set(users))
    if not wanted:
        return {}
    rows = await session.execute(
        text(
            "SELECT user_id, sum(quote) FROM user_volume_daily "
            "WHERE user_id = ANY(CAST(:u AS bigint[])) "
            "AND day > (now() AT TIME ZONE 'UTC')::date - 30 GROUP BY user_id"
        ),
        {"u": wanted},
    )
    return {int(u): int(q) for u, q in rows}


def schedule_of(maker: int, taker: int, tiers: tuple[Tier, ...]) -> list[Tier]:
    return [(0, maker, taker), *tiers]


def position(schedule: list[Tier], volume: int) -> tuple[Tier, Tier | None]:
    """The tier a volume reaches, and the next one."""
    current, following = schedule[0], None
    for tier in schedule:
        if volume >= tier[0]:
            current = tier
        elif following is None:
            following = tier
    return current, following


async def user_fees(session: AsyncSession, user_id: int) -> tuple[int, list[MarketFees]]:
    """The user's 30-day volume, and every market's schedule and where the user stands."""
    volume = (await volumes(session, [user_id])).get(user_id, 0)
    tiers = await fee_tiers(session)
    out = []
    for market, _ in await list_markets(session):
        schedule = schedule_of(
            market.maker_fee_bps, market.taker_fee_bps, tiers_of(tiers, market.id)
        )
        current, following = position(schedule, volume)
        out.append(MarketFees(market.symbol, schedule, current, following))
    return volume, out


def parse_tiers(raw: list[Any]) -> list[Tier]:
    tiers = []
    for t in raw:
        volume, maker, taker = t
        if volume <= 0 or not (0 <= maker <= MAX_FEE_BPS and 0 <= taker <= MAX_FEE_BPS):
            raise InvalidFeeTiers(
                f"a tier needs min_volume > 0 and fees within 0..{MAX_FEE_BPS} bps"
            )
        tiers.append((volume, maker, taker))
    if len({v for v, _, _ in tiers}) != len(tiers):
        raise InvalidFeeTiers("tiers must have distinct min_volume")
    return sorted(tiers)


async def set_tiers(
    session: AsyncSession, actor: Principal, symbol: str | None, tiers: list[Tier]
) -> list[Tier]:
    """Replace the global tiers (`symbol` None) or a market's; audited (`fee_tiers.set`).
    Orders that rest keep the hold they were placed with; new fees apply to the groups
    that begin after the commit."""
    market_id = None if symbol is None else (await get_market(session, symbol)).id
    before = [
        list(t)
        for t in (
            await session.execute(
                text(
                    "SELECT min_volume, maker_fee_bps, taker_fee_bps FROM fee_tiers "
                    "WHERE market_id IS NOT DISTINCT FROM CAST(:m AS bigint) ORDER BY min_volume"
                ),
                {"m": market_id},
            )
        ).all()
    ]
    await session.execute(
        text("DELETE FROM fee_tiers WHERE market_id IS NOT DISTINCT FROM CAST(:m AS bigint)"),
        {"m": market_id},
    )
    for volume, maker, taker in tiers:
        await session.execute(
            text(
                "INSERT INTO fee_tiers (market_id, min_volume, maker_fee_bps, taker_fee_bps) "
                "VALUES (:m, :v, :mk, :tk)"
            ),
            {"m": market_id, "v": volume, "mk": maker, "tk": taker},
        )
    await record(
        session,
        actor,
        "fee_tiers.set",
        "market" if symbol else "fee_tiers",
        symbol or "global",
        {"tiers": before},
        {"tiers": [list(t) for t in tiers]},
    )
    return tiers
