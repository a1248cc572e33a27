"""Markets: lookup, parameter changes and state transitions (each audited)."""

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.auth.service import Principal
from app.markets.errors import (
    InvalidTransition,
    MarketNotFound,
    NoChanges,
    SubnetRetired,
    UnknownMarketState,
)
from app.markets.rules import (
    DELISTED,
    HALTED,
    PARAMETERS,
    STATES,
    TRANSITIONS,
    parse_symbol,
    validate_parameters,
)
from app.models import Market, Subnet

# Called in the same transaction after a market's state changed (old, new): the order
# service cancels open orders on delisting, staking releases allocations, and so on.
StateListener = Callable[[AsyncSession, Market, str, str], Awaitable[None]]


def market_params(market: Market) -> dict[str, Any]:
    return {
        "state": market.state,
        **{name: getattr(market, name) for name in PARAMETERS},
    }


async def get_market(session: AsyncSession, symbol: str, *, for_update: bool = False) -> Market:
    stmt = select(Market).where(Market.symbol == parse_symbol(symbol))
    if for_update:
        stmt = stmt.with_for_update()
    market = await session.scalar(stmt)
    if market is None:
        raise MarketNotFound(f"no market {symbol}")
    return market


async def list_markets(session: AsyncSession) -> list[tuple[Market, Subnet]]:
    rows = await session.execute(
        select(Market, Subnet).join(Subnet, Subnet.id == Market.subnet_id).order_by(Market.netuid)
    )
    return [(m, s) for m, s in rows]


async def update_parameters(
    session: AsyncSession, actor: Principal, symbol: str, changes: dict[str, Any]
) -> Market:
    market = await get_market(session, symbol, for_update=True)
    if not changes:
        raise NoChanges("no parameters to change")
    before = market_params(market)
    parsed = validate_parameters(changes, {k: v for k, v in before.items() if k != "state"})
    for name, value in parsed.items():
        setattr(market, name, value)
    await session.flush()
    await record(
        session, actor, "market.update", "market", market.symbol, before, market_params(market)
    )
    return market


# Announced (app.kit.notify) by the indexer when subnets retire: their markets must halt.
SUBNETS_RETIRED = "subnets_retired"


async def halt_retired(session: AsyncSession, listeners: list[StateListener]) -> list[Market]:
    """Halt every market of a deregistered subnet that is not halted or delisted yet."""
    markets = list(
        await session.scalars(
            select(Market)
            .join(Subnet, Subnet.id == Market.subnet_id)
            .where(Subnet.status == "retired", Market.state.not_in((HALTED, DELISTED)))
            .order_by(Market.id)
            .with_for_update(of=Market)
        )
    )
    for market in markets:
        subnet = await session.get(Subnet, market.subnet_id)
        assert subnet is not None
        reason = f"subnet {subnet.netuid} deregistered"
        await change_state(session, None, market, HALTED, reason, listeners)
    return markets


async def change_state(
    session: AsyncSession,
    actor: Principal | None,
    market: Market,
    new_state: str,
    reason: str | None,
    listeners: list[StateListener],
) -> Market:
    """Move a market to `new_state` if the transition table allows it."""
    old = market.state
    if new_state not in STATES:
        raise UnknownMarketState(f"unknown market state {new_state!r}")
    if new_state not in TRANSITIONS[old]:
        raise InvalidTransition(f"a {old} market cannot become {new_state}")
    if new_state not in (HALTED, DELISTED):
        subnet = await session.get(Subnet, market.subnet_id)
        if subnet is not None and subnet.status == "retired":
            raise SubnetRetired("the subnet was deregistered: its market can only be delisted")
    before = market_params(market)
    market.state = new_state
    await session.flush()
    for listener in listeners:
        await listener(session, market, old, new_state)
    action = "market.state" if actor else "market.state.auto"
    await record(
        session, actor, action, "market", market.symbol, before, market_params(market), reason
    )
    return market
