from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from app.auth.dependencies import AdminPrincipal, ReadPrincipal
from app.kit.deps import PublicCache, Session
from app.kit.inputs import Canonical
from app.markets import fees as fee_service
from app.markets import service
from app.markets.rules import parse_symbol
from app.markets.schemas import (
    SYMBOL_DOC,
    AssetOut,
    BookLevel,
    BookOut,
    FeesOut,
    FeeTierOut,
    FeeTiersIn,
    MarketFeesOut,
    MarketOut,
    MarketPatch,
    StateChange,
    SymbolPath,
)
from app.matching import Depth
from app.models import Asset, Subnet
from app.orders.commands import OrderService, SetMarketState
from app.orders.readmodel import OrdersView

public = APIRouter(prefix="/v1/markets", tags=["markets"], dependencies=[PublicCache])
assets = APIRouter(prefix="/v1/assets", tags=["markets"], dependencies=[PublicCache])
admin = APIRouter(prefix="/v1/admin/markets", tags=["admin"])
fees = APIRouter(prefix="/v1", tags=["markets"])


@fees.get("/fees", response_model=FeesOut)
async def get_fees(principal: ReadPrincipal, session: Session) -> FeesOut:
    """The caller's 30-day quote volume and, per market, its fees now, the tiers and the
    next tier up."""
    volume, markets = await fee_service.user_fees(session, principal.user_id)
    return FeesOut(
        currency="TAO",
        volume_30d=str(volume),
        markets=[
            MarketFeesOut(
                market=m.symbol,
                maker_fee_bps=m.current[1],
                taker_fee_bps=m.current[2],
                tiers=[FeeTierOut.of(t) for t in m.schedule],
                next_tier=None if m.next is None else FeeTierOut.of(m.next),
            )
            for m in markets
        ],
    )


@fees.put("/admin/fee-tiers", response_model=list[FeeTierOut], tags=["admin"])
async def put_fee_tiers(
    body: FeeTiersIn, principal: AdminPrincipal, session: Session
) -> list[FeeTierOut]:
    """Replace the global fee tiers, or a market's (`market`), audited. Tiers lower (or
    raise) fees from a 30-day quote volume on; a buy holds the highest fee of any tier."""
    tiers = fee_service.parse_tiers(
        [(t.min_volume, t.maker_fee_bps, t.taker_fee_bps) for t in body.tiers]
    )
    saved = await fee_service.set_tiers(session, principal, body.market, tiers)
    return [FeeTierOut.of(t) for t in saved]


async def _out(session: Session, symbol: str) -> MarketOut:
    market = await service.get_market(session, symbol)
    subnet = await session.get(Subnet, market.subnet_id)
    assert subnet is not None
    return MarketOut.of(market, subnet)


@assets.get("", response_model=list[AssetOut])
async def list_assets(session: Session) -> list[AssetOut]:
    """TAO and every listed alpha."""
    rows = await session.scalars(select(Asset).order_by(Asset.code))
    return [AssetOut.of(a) for a in rows]


@public.get("", response_model=list[MarketOut])
async def list_markets(session: Session) -> list[MarketOut]:
    return [MarketOut.of(m, s) for m, s in await service.list_markets(session)]


@public.get("/{symbol}", response_model=MarketOut, description=SYMBOL_DOC)
async def get_market(symbol: SymbolPath, session: Session) -> MarketOut:
    return await _out(session, symbol)


@public.get("/{symbol}/book", response_model=BookOut, description=SYMBOL_DOC)
async def get_book(
    symbol: SymbolPath,
    session: Session,
    request: Request,
    depth: Annotated[int, Canonical(1, 1000), Query()] = 50,
) -> BookOut:
    """Aggregated price levels (L2) of the committed book (what the WebSocket `book` channel
    publishes): `sequence` is the sequence of its last update there."""
    view: OrdersView = request.app.state.orders_view
    # Markets the order service knows need no database round trip (the hot path of pollers).
    wanted = parse_symbol(symbol)
    market_id = view.market_id(wanted)
    if market_id is None:
        market = await service.get_market(session, symbol)
        market_id, wanted = market.id, market.symbol
    published = view.depth(market_id)
    levels = Depth(published.bids[:depth], published.asks[:depth])
    return BookOut(
        symbol=wanted,
        sequence=view.sequence(market_id),
        epoch=view.epoch,
        bids=[
            BookLevel(price=str(x.price), qty=str(x.qty), orders=x.orders)
            for x in (levels.bids if levels else [])
        ],
        asks=[
            BookLevel(price=str(x.price), qty=str(x.qty), orders=x.orders)
            for x in (levels.asks if levels else [])
        ],
    )


@admin.patch("/{symbol}", response_model=MarketOut, description=SYMBOL_DOC)
async def patch_market(
    symbol: SymbolPath, body: MarketPatch, principal: AdminPrincipal, session: Session
) -> MarketOut:
    market = await service.update_parameters(session, principal, symbol, body.changes())
    return await _out(session, market.symbol)


@admin.post("/{symbol}/state", response_model=MarketOut, description=SYMBOL_DOC)
async def set_market_state(
    symbol: SymbolPath,
    body: StateChange,
    principal: AdminPrincipal,
    session: Session,
    request: Request,
) -> MarketOut:
    # Through the order sequencer: a delisting cancels open orders in the same transaction,
    # and no order slips in between.
    orders: OrderService = request.app.state.orders
    market = await orders.submit(SetMarketState(principal, symbol, body.state, body.reason))
    return await _out(session, market.symbol)
