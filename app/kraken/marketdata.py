"""Ticker, OHLC, Trades and Spread for the Kraken surface.

Interim: simple read-only queries over the `fills` table and the sequencer's published
book, until the market-data service (`app/marketdata/service.py`) is on main; then these
adapt that service's functions instead.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kraken.schemas import units
from app.matching.types import DepthLevel
from app.models import Fill, Market, Order
from app.orders.sequencer import Sequencer

UNIT = 10**9
OHLC_ROWS = 720


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _ns(moment: datetime) -> str:
    return str(int(Decimal(str(moment.timestamp())) * 10**9))


def _ts(moment: datetime) -> float:
    return round(moment.timestamp(), 4)


def _level(levels: Sequence[DepthLevel]) -> list[str]:
    if not levels:
        return [units(0), "0", units(0)]
    best = levels[0]
    return [units(best.price), str(best.qty // UNIT), units(best.qty)]


async def _stats(session: AsyncSession, market_id: int, since: datetime) -> Any:
    return (
        await session.execute(
            select(
                func.coalesce(func.sum(Fill.qty), 0),
                func.coalesce(func.sum(Fill.quote), 0),
                func.count(Fill.id),
                func.min(Fill.price),
                func.max(Fill.price),
            ).where(Fill.market_id == market_id, Fill.created_at >= since)
        )
    ).one()


async def ticker(session: AsyncSession, sequencer: Sequencer, market: Market) -> dict[str, Any]:
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = await _stats(session, market.id, midnight)
    day = await _stats(session, market.id, now - timedelta(hours=24))
    last = (
        await session.execute(
            select(Fill.price, Fill.qty)
            .where(Fill.market_id == market.id)
            .order_by(Fill.id.desc())
            .limit(1)
        )
    ).first()
    opening = await session.scalar(
        select(Fill.price)
        .where(Fill.market_id == market.id, Fill.created_at >= midnight)
        .order_by(Fill.id)
        .limit(1)
    )
    book = sequencer.published.get(market.id)

    def vwap(stats: Any) -> str:
        volume, quote = int(stats[0]), int(stats[1])
        return units(quote * UNIT // volume if volume else 0)

    def price(value: Any) -> str:
        return units(int(value) if value is not None else (last[0] if last else 0))

    return {
        "a": _level(book.asks if book else []),
        "b": _level(book.bids if book else []),
        "c": [units(last[0]), units(last[1])] if last else [units(0), units(0)],
        "v": [units(int(today[0])), units(int(day[0]))],
        "p": [vwap(today), vwap(day)],
        "t": [int(today[2]), int(day[2])],
        "l": [price(today[3]), price(day[3])],
        "h": [price(today[4]), price(day[4])],
        "o": price(opening),
    }


async def trades(
    session: AsyncSession, market: Market, since: float | None, count: int
) -> tuple[list[list[Any]], str]:
    stmt = (
        select(Fill, Order.type)
        .join(Order, Order.id == Fill.taker_order_id)
        .where(Fill.market_id == market.id)
    )
    if since is not None:
        stmt = stmt.where(Fill.created_at > _at(since)).order_by(Fill.id).limit(count)
    else:  # the most recent ones, oldest first
        stmt = stmt.order_by(Fill.id.desc()).limit(count)
    rows = list((await session.execute(stmt)).all())
    if since is None:
        rows.reverse()
    out = [
        [
            units(f.price),
            units(f.qty),
            _ts(f.created_at),
            "b" if f.taker_side == "buy" else "s",
            "m" if kind == "market" else "l",
            "",
            f.id,
        ]
        for f, kind in rows
    ]
    if rows:
        last = _ns(rows[-1][0].created_at)
    else:
        last = str(int(Decimal(str(since)) * 10**9)) if since is not None else "0"
    return out, last


async def ohlc(
    session: AsyncSession, market: Market, interval: int, since: float | None
) -> tuple[list[list[Any]], int]:
    step = interval * 60
    now = datetime.now(UTC).timestamp()
    start = max(since or 0, now - step * OHLC_ROWS)
    start -= start % step
    fills = await session.scalars(
        select(Fill)
        .where(Fill.market_id == market.id, Fill.created_at >= _at(start))
        .order_by(Fill.id)
    )
    buckets: dict[int, list[int]] = {}  # start -> open, high, low, close, volume, quote, n
    for f in fills:
        t = int(f.created_at.timestamp()) // step * step
        b = buckets.get(t)
        if b is None:
            buckets[t] = [f.price, f.price, f.price, f.price, f.qty, f.quote, 1]
        else:
            b[1], b[2], b[3] = max(b[1], f.price), min(b[2], f.price), f.price
            b[4] += f.qty
            b[5] += f.quote
            b[6] += 1
    rows = [
        [t, units(o), units(h), units(lo), units(c), units(q * UNIT // v if v else 0), units(v), n]
        for t, (o, h, lo, c, v, q, n) in sorted(buckets.items())
    ]
    current = int(now) // step * step
    committed = [t for t in buckets if t < current]
    return rows, (max(committed) if committed else int(start))


def spread(sequencer: Sequencer, market: Market) -> tuple[list[list[Any]], int]:
    """Kraken keeps a history of best bid/ask; here: the current one."""
    book = sequencer.published.get(market.id)
    now = int(datetime.now(UTC).timestamp())
    if book is None or not (book.bids or book.asks):
        return [], now
    bid = units(book.bids[0].price) if book.bids else units(0)
    ask = units(book.asks[0].price) if book.asks else units(0)
    return [[now, bid, ask]], now
