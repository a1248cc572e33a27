"""Ticker, OHLC, Trades and Spread for the Kraken surface, adapted from the market-data
service (`app.marketdata.service`); Spread reads the order service's committed book."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.inputs import time_from_seconds
from app.kit.units import UNIT
from app.kraken.schemas import units
from app.marketdata import service as md
from app.models import Fill, Market
from app.orders.readmodel import OrdersView

OHLC_ROWS = 720
FILL_ID_BELOW = 10**9  # a `since` below this is a fill id (our `last`), else a time


def _level(price: int | None, qty: int | None) -> list[str]:
    if price is None or qty is None:
        return [units(0), "0", units(0)]
    return [units(price), str(qty // UNIT), units(qty)]


async def ticker(session: AsyncSession, view: OrdersView, market: Market) -> dict[str, Any]:
    """Kraken's "today" figures are the service's rolling 24 hours, like its "24h" ones."""
    t = await md.ticker(session, view, market)
    last = await md.recent_trades(session, market.id, None, 1)
    fallback = t.last_price or 0
    low = units(t.low if t.low is not None else fallback)
    high = units(t.high if t.high is not None else fallback)
    vwap = units(t.vwap or 0)
    return {
        "a": _level(t.best_ask, t.best_ask_qty),
        "b": _level(t.best_bid, t.best_bid_qty),
        "c": [units(last[0].price), units(last[0].qty)] if last else [units(0), units(0)],
        "v": [units(t.volume), units(t.volume)],
        "p": [vwap, vwap],
        "t": [t.trades, t.trades],
        "l": [low, low],
        "h": [high, high],
        "o": units(t.open if t.open is not None else fallback),
    }


async def trades(
    session: AsyncSession,
    market: Market,
    after_id: int | None,
    after_time: datetime | None,
    count: int,
) -> tuple[list[list[Any]], str]:
    """Oldest first: after fill `after_id` (our `last`), or after `after_time`; neither:
    the latest `count`."""
    if after_id is None and after_time is None:
        rows = list(reversed(await md.recent_trades(session, market.id, None, count)))
        after = 0
    else:
        after = after_id or 0
        if after_time is not None:
            after = int(
                await session.scalar(
                    select(func.coalesce(func.max(Fill.id), 0)).where(
                        Fill.market_id == market.id, Fill.created_at <= after_time
                    )
                )
                or 0
            )
        rows = await md.trades_after(session, market.id, after, count)
    out = [
        [
            units(t.price),
            units(t.qty),
            round(t.time.timestamp(), 4),
            "b" if t.taker_side == "buy" else "s",
            "l",  # the service does not say which order type took
            "",
            t.id,
        ]
        for t in rows
    ]
    return out, str(rows[-1].id if rows else after)


async def ohlc(
    session: AsyncSession, market: Market, interval: int, since: float | None
) -> tuple[list[list[Any]], int]:
    """Up to 720 candles (Kraken's most) from `since`; `last` is the newest whole one."""
    step = timedelta(minutes=interval)
    now = datetime.now(UTC)
    start = now - step * OHLC_ROWS
    if since is not None:
        start = max(start, time_from_seconds(since))
    rows: list[list[Any]] = [
        [
            int(c.start.timestamp()),
            units(c.open),
            units(c.high),
            units(c.low),
            units(c.close),
            units(c.quote_volume * UNIT // c.volume if c.volume else 0),
            units(c.volume),
            c.trades,
        ]
        for c in await md.candles_by_step(session, market.id, step, start, now)
    ]
    current = int(md.bucket_start(now, step).timestamp())
    committed = [r[0] for r in rows if r[0] < current]
    return rows, (max(committed) if committed else int(md.bucket_start(start, step).timestamp()))


def spread(view: OrdersView, market: Market) -> tuple[list[list[Any]], int]:
    """Kraken keeps a history of best bid/ask; here: the current one, from the book."""
    book = view.depth(market.id)
    now = int(datetime.now(UTC).timestamp())
    if not (book.bids or book.asks):
        return [], now
    bid = units(book.bids[0].price) if book.bids else units(0)
    ask = units(book.asks[0].price) if book.asks else units(0)
    return [[now, bid, ask]], now
