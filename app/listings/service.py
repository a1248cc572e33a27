"""The listing workflow: every indexed subnet token becomes a candidate; admins approve it
(creating its asset and market) or reject it; a retired subnet halts its market."""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.auth.service import Principal
from app.config import Settings
from app.indexer.service import SyncResult
from app.kit.notify import notify
from app.ledger.service import ensure_asset
from app.listings.errors import (
    InvalidInitialState,
    InvalidTicker,
    ListingNotFound,
    ListingNotPending,
    OverrideRequired,
    TickerTaken,
)
from app.markets.errors import SubnetRetired
from app.markets.rules import (
    CANCEL_ONLY,
    HALTED,
    POST_ONLY,
    TRADING,
    default_tick_size,
    validate_parameters,
)
from app.markets.service import SUBNETS_RETIRED
from app.models import IndexerState, Listing, Market, Subnet, SubnetHistory
from app.models.asset import Asset

BLOCKS_PER_DAY = 7200
DYNAMIC = 1  # SubnetMechanism of a dTAO subnet
TICKER = re.compile(r"^[A-Z0-9]{2,12}$")
IDENTITY_FIELDS = (
    "subnet_name",
    "github_repo",
    "subnet_contact",
    "subnet_url",
    "discord",
    "description",
    "logo_url",
)
INITIAL_STATES = (TRADING, POST_ONLY, CANCEL_ONLY, HALTED)

DEFAULTS = {
    "lot_size": 1_000_000,  # 0.001 alpha
    "min_size": 100_000_000,  # 0.1 alpha
    "min_notional": 10_000_000,  # 0.01 TAO
    "maker_fee_bps": 10,
    "taker_fee_bps": 20,
    "price_band_bps": 2000,
}


@dataclass(slots=True)
class DueDiligence:
    age_blocks: int
    age_days: float
    pool_tao: int
    price_rao: int
    moving_price_bits: int
    volume_24h: int
    volume_24h_partial: bool  # history does not reach 24 h back yet
    identity_present: list[str]
    identity_missing: list[str]
    owner_coldkey: str
    flags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ListingView:
    listing: Listing
    subnet: Subnet
    diligence: DueDiligence
    market: Market | None


async def create_candidates(session: AsyncSession, result: SyncResult) -> None:
    """Indexer listener: each newly discovered token becomes a listing candidate. Root
    (netuid 0) and non-dynamic subnets have no alpha token to list."""
    for subnet in result.new_subnets:
        if subnet.netuid == 0 or subnet.mechanism != DYNAMIC:
            continue
        session.add(Listing(subnet_id=subnet.id, netuid=subnet.netuid, state="candidate"))
    await session.flush()


async def announce_retired_subnets(session: AsyncSession, result: SyncResult) -> None:
    """Indexer listener: when subnets retire, tell the order service (on commit) to halt
    their markets: it is the one writer of market states (`HaltRetiredMarkets`)."""
    if result.retired_subnets:
        await notify(session, SUBNETS_RETIRED)


async def _head_block(session: AsyncSession) -> int:
    state = await session.get(IndexerState, 1)
    return state.head_block if state else 0


async def due_diligence(session: AsyncSession, subnet: Subnet, settings: Settings) -> DueDiligence:
    head = max(await _head_block(session), subnet.last_block)
    age = max(0, head - subnet.registered_at)
    # SubnetVolume is cumulative: 24 h volume is its growth since the block a day ago.
    past = await session.scalar(
        select(SubnetHistory)
        .where(
            SubnetHistory.subnet_id == subnet.id,
            SubnetHistory.block_number <= head - BLOCKS_PER_DAY,
        )
        .order_by(SubnetHistory.block_number.desc())
        .limit(1)
    )
    partial = past is None
    if past is None:
        past = await session.scalar(
            select(SubnetHistory)
            .where(SubnetHistory.subnet_id == subnet.id)
            .order_by(SubnetHistory.block_number)
            .limit(1)
        )
    volume_24h = int(subnet.volume) - int(past.volume) if past else 0
    identity = subnet.identity or {}
    present = [f for f in IDENTITY_FIELDS if str(identity.get(f, "")).strip()]
    flags = []
    if age < settings.listing_min_age_blocks:
        flags.append("too_young")
    if subnet.tao_in < settings.listing_min_pool_rao:
        flags.append("pool_too_shallow")
    if subnet.status == "retired":
        flags.append("retired")
    return DueDiligence(
        age_blocks=age,
        age_days=round(age / BLOCKS_PER_DAY, 2),
        pool_tao=subnet.tao_in,
        price_rao=subnet.price_rao,
        moving_price_bits=int(subnet.moving_price_bits),
        volume_24h=max(0, volume_24h),
        volume_24h_partial=partial,
        identity_present=present,
        identity_missing=[f for f in IDENTITY_FIELDS if f not in present],
        owner_coldkey=subnet.owner_coldkey,
        flags=flags,
    )


async def _view(session: AsyncSession, listing: Listing, settings: Settings) -> ListingView:
    subnet = await session.get(Subnet, listing.subnet_id)
    assert subnet is not None
    market = await session.get(Market, listing.market_id) if listing.market_id else None
    return ListingView(listing, subnet, await due_diligence(session, subnet, settings), market)


async def list_listings(
    session: AsyncSession, state: str | None, settings: Settings
) -> list[ListingView]:
    stmt = select(Listing).order_by(Listing.netuid, Listing.id)
    if state:
        stmt = stmt.where(Listing.state == state)
    return [await _view(session, listing, settings) for listing in await session.scalars(stmt)]


async def get_listing(session: AsyncSession, listing_id: int, settings: Settings) -> ListingView:
    listing = await session.get(Listing, listing_id)
    if listing is None:
        raise ListingNotFound(f"no listing {listing_id}")
    return await _view(session, listing, settings)


async def _lock_listing(session: AsyncSession, listing_id: int) -> Listing:
    listing = await session.scalar(
        select(Listing).where(Listing.id == listing_id).with_for_update()
    )
    if listing is None:
        raise ListingNotFound(f"no listing {listing_id}")
    return listing


def _snapshot(listing: Listing) -> dict[str, Any]:
    return {"state": listing.state, "reason": listing.reason, "market_id": listing.market_id}


def validate_ticker(ticker: str) -> str:
    if not TICKER.match(ticker):
        raise InvalidTicker("ticker must be 2 to 12 characters A-Z or 0-9")
    if len(ticker) > 3 and ticker[0] in "XZ":
        raise InvalidTicker("a ticker longer than 3 characters must not begin with X or Z")
    if ticker == "TAO":
        raise InvalidTicker("TAO is the quote asset")
    return ticker


async def approve(
    session: AsyncSession,
    actor: Principal,
    listing_id: int,
    request: dict[str, Any],
    settings: Settings,
) -> ListingView:
    """Create the asset and market of a candidate. Locks the candidate row, so concurrent
    approvals of one candidate produce exactly one market."""
    listing = await _lock_listing(session, listing_id)
    if listing.state != "candidate":
        raise ListingNotPending(f"listing {listing_id} is {listing.state}, not a candidate")
    subnet = await session.get(Subnet, listing.subnet_id)
    assert subnet is not None
    if subnet.status == "retired":
        raise SubnetRetired("this subnet was deregistered; it cannot be listed")

    ticker = validate_ticker(str(request.get("ticker") or f"SN{subnet.netuid}"))
    initial_state = request.get("initial_state") or TRADING
    if initial_state not in INITIAL_STATES:
        raise InvalidInitialState(f"initial_state must be one of {', '.join(INITIAL_STATES)}")
    params = validate_parameters(
        {
            "tick_size": default_tick_size(subnet.price_rao),
            **DEFAULTS,
            **{k: v for k, v in request.items() if v is not None},
        }
    )
    diligence = await due_diligence(session, subnet, settings)
    override = (request.get("override_reason") or "").strip()
    if diligence.flags and not override:
        raise OverrideRequired(
            f"candidate falls short of the listing policy ({', '.join(diligence.flags)}); "
            "approve with an override_reason"
        )
    symbol = f"{ticker}/TAO"
    taken = await session.scalar(
        select(Asset.code)
        .where(Asset.code == ticker)
        .union(select(Market.base_asset).where(Market.symbol == symbol))
    )
    if taken is not None:
        raise TickerTaken(f"ticker {ticker} is already in use")

    name = str(request.get("display_name") or "").strip() or subnet.name
    await ensure_asset(session, code=ticker, name=name[:64], netuid=subnet.netuid)
    market = Market(
        symbol=symbol,
        base_asset=ticker,
        quote_asset="TAO",
        subnet_id=subnet.id,
        netuid=subnet.netuid,
        state=initial_state,
        **params,
    )
    session.add(market)
    await session.flush()
    before = _snapshot(listing)
    listing.state = "approved"
    listing.market_id = market.id
    listing.reason = override or None
    listing.reviewed_by = actor.user_id
    listing.reviewed_at = datetime.now(UTC)
    await session.flush()
    after = {
        **_snapshot(listing),
        "symbol": symbol,
        "ticker": ticker,
        "flags": diligence.flags,
        "market": {"state": initial_state, **params},
    }
    await record(
        session, actor, "listing.approve", "listing", listing.id, before, after, override or None
    )
    return ListingView(listing, subnet, diligence, market)


async def reject(
    session: AsyncSession, actor: Principal, listing_id: int, reason: str, settings: Settings
) -> ListingView:
    listing = await _lock_listing(session, listing_id)
    if listing.state != "candidate":
        raise ListingNotPending(f"listing {listing_id} is {listing.state}, not a candidate")
    before = _snapshot(listing)
    listing.state, listing.reason = "rejected", reason
    listing.reviewed_by, listing.reviewed_at = actor.user_id, datetime.now(UTC)
    await session.flush()
    await record(
        session, actor, "listing.reject", "listing", listing.id, before, _snapshot(listing), reason
    )
    return await _view(session, listing, settings)


async def reconsider(
    session: AsyncSession, actor: Principal, listing_id: int, reason: str | None, settings: Settings
) -> ListingView:
    """A rejected listing goes back to candidate for another review."""
    listing = await _lock_listing(session, listing_id)
    if listing.state != "rejected":
        raise ListingNotPending(f"listing {listing_id} is {listing.state}, not rejected")
    before = _snapshot(listing)
    listing.state, listing.reason = "candidate", None
    await session.flush()
    await record(
        session,
        actor,
        "listing.reconsider",
        "listing",
        listing.id,
        before,
        _snapshot(listing),
        reason,
    )
    return await _view(session, listing, settings)
