"""Public market-data REST endpoints (see `app.marketdata.service`)."""

from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query, Request

from app.kit.deps import PublicCache, Session
from app.kit.inputs import MAX_INT, Canonical, PositiveInt, Timestamp
from app.marketdata import service
from app.marketdata.schemas import CandlesOut, PoolQuoteOut, TickerOut, TradesOut
from app.markets.schemas import SYMBOL_DOC, SymbolPath
from app.markets.service import get_market
from app.models import Subnet
from app.orders.readmodel import OrdersView

router = APIRouter(tags=["market data"], dependencies=[PublicCache])


def _view(request: Request) -> OrdersView:
    view: OrdersView = request.app.state.orders_view
    return view


Interval = Literal["1m", "5m", "15m", "1h", "4h", "1d"]
assert set(get_args(Interval)) == set(service.INTERVALS)


@router.get("/v1/markets/{symbol}/trades", response_model=TradesOut, description=SYMBOL_DOC)
async def get_trades(
    symbol: SymbolPath,
    session: Session,
    since: Annotated[PositiveInt | None, Query(description="only trades with a smaller id")] = None,
    limit: Annotated[int, Canonical(1, service.MAX_TRADES), Query()] = 100,
) -> dict[str, Any]:
    """Trades (fills), newest first. Page with `since` = the previous page's `next_cursor`."""
    market = await get_market(session, symbol)
    trades = await service.recent_trades(session, market.id, since, limit)
    return {
        "symbol": market.symbol,
        "trades": [t.as_json() for t in trades],
        "next_cursor": trades[-1].id if len(trades) == limit else None,
    }


@router.get("/v1/markets/{symbol}/ticker", response_model=TickerOut, description=SYMBOL_DOC)
async def get_ticker(symbol: SymbolPath, session: Session, request: Request) -> dict[str, Any]:
    """Last price, best bid/ask with sizes (committed book), 24 h statistics, pool price."""
    return (await service.ticker_by_symbol(session, _view(request), symbol)).as_json()


@router.get("/v1/tickers", response_model=list[TickerOut])
async def get_tickers(session: Session, request: Request) -> list[dict[str, Any]]:
    """The ticker of every market."""
    return [t.as_json() for t in await service.tickers(session, _view(request))]


@router.get("/v1/markets/{symbol}/candles", response_model=CandlesOut, description=SYMBOL_DOC)
async def get_candles(
    symbol: SymbolPath,
    session: Session,
    interval: Interval = "1h",
    start: Annotated[
        Timestamp | None, Query(alias="from", description="ISO 8601 or unix seconds, UTC")
    ] = None,
    end: Annotated[Timestamp | None, Query(alias="to", description="exclusive")] = None,
) -> dict[str, Any]:
    """OHLCV candles (1m, 5m, 15m, 1h, 4h, 1d) from the trades, UTC buckets aligned on
    midnight, oldest first. A bucket without trades has no candle."""
    market = await get_market(session, symbol)
    rows = await service.candles(session, market.id, interval, start, end)
    return {"symbol": market.symbol, "interval": interval, "candles": [c.as_json() for c in rows]}


@router.get("/v1/markets/{symbol}/pool-quote", response_model=PoolQuoteOut, description=SYMBOL_DOC)
async def get_pool_quote(
    symbol: SymbolPath,
    session: Session,
    request: Request,
    side: Literal["buy", "sell"],
    amount: Annotated[
        int, Canonical(1, MAX_INT), Query(description="TAO rao (buy) or alpha-rao (sell)")
    ],
) -> dict[str, Any]:
    """What the subnet's on-chain pool would give for this swap now (indexer's latest state),
    beside what the order book would give for the same amount."""
    value = amount
    market = await get_market(session, symbol)
    subnet = await session.get(Subnet, market.subnet_id)
    assert subnet is not None
    pool = service.pool_quote(subnet, side, value)
    view = _view(request)
    depth = view.depth(market.id)
    book = service.book_quote(depth, side, value, market.taker_fee_bps, market.lot_size)
    return {
        "symbol": market.symbol,
        "netuid": market.netuid,
        "side": side,
        "amount": str(amount),
        "pool_block": subnet.last_block,
        "pool": pool.as_json(),
        "book": book.as_json(),
        "book_sequence": view.sequence(market.id),
        "better": _better(side, pool, book),
    }


def _better(side: str, pool: service.SwapQuote, book: service.SwapQuote) -> str | None:
    # Compare the effective prices of what each can fill.
    if not pool.filled and not book.filled:
        return None
    if not book.filled:
        return "pool"
    if not pool.filled:
        return "book"
    assert pool.price is not None and book.price is not None
    if pool.price == book.price:
        return None
    cheaper = pool.price < book.price
    return ("pool" if cheaper else "book") if side == "buy" else ("book" if cheaper else "pool")
