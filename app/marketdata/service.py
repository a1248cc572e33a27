"""Market data: trades, tickers, candles, pool quotes and book walks.

Reusable service functions (the native REST API, the WebSocket feed and the Kraken adapter
all build on them). Every amount is an integer of base units: prices in rao per whole alpha,
quantities in alpha-rao, quote amounts in rao. Times are UTC.

- `recent_trades(session, market_id, since_id, limit)`: fills, newest first;
  `trades_after(session, market_id, after_id, limit)`: oldest first, forward polling.
- `ticker(session, view, market)` / `tickers(session, view)`: last price, best
  bid/ask (from the committed book), 24 h statistics from the fills, the pool price.
- `candles(session, market_id, interval, start, end)` (or `candles_by_step` for any bucket
  length): OHLCV buckets (Postgres `date_bin`,
  aligned on 2000-01-01T00:00Z, so on UTC midnights). No trades in a bucket -> no candle.
- `pool_quote(subnet, side, amount)`: the on-chain pool's answer (`app.chain.pool`).
- `book_quote(depth, side, amount, taker_bps, lot)`: the same swap walked through a book.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.chain.pool import quote_buy_alpha, quote_sell_alpha
from app.kit.errors import BadRequest
from app.kit.units import MAX_AMOUNT, UNIT
from app.ledger.errors import InvalidAmount
from app.ledger.settlement import BPS
from app.markets.errors import MarketNotFound
from app.markets.rules import parse_symbol
from app.matching import Depth
from app.models import Fill, Market, Subnet
from app.orders.readmodel import OrdersView

MAX_TRADES = 1000
MAX_CANDLES = 5000
SLIPPAGE_DIGITS = 60  # decimal precision of slippage_bps: any price over any spot, exactly

INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
}
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # date_bin origin: buckets start on UTC midnights


class InvalidInterval(BadRequest):
    code = "invalid_interval"


class InvalidRange(BadRequest):
    code = "invalid_range"


class InvalidSide(BadRequest):
    code = "invalid_side"


class NoPoolState(BadRequest):
    code = "no_pool_state"


# ---------------------------------------------------------------------------- trades


@dataclass(frozen=True, slots=True)
class Trade:
    id: int  # the fill id: the pagination cursor
    match_id: int  # per market, from the engine
    price: int
    qty: int
    quote: int
    taker_side: str  # "buy" or "sell"
    time: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "match_id": self.match_id,
            "price": str(self.price),
            "qty": str(self.qty),
            "quote": str(self.quote),
            "taker_side": self.taker_side,
            "time": self.time.isoformat(),
        }


async def recent_trades(
    session: AsyncSession, market_id: int, since_id: int | None = None, limit: int = 100
) -> list[Trade]:
    """Fills of a market, newest first. `since_id` is a cursor: only fills with a smaller id
    (older) are returned, so pass the last id of a page to get the next one."""
    limit = max(1, min(limit, MAX_TRADES))
    stmt = select(Fill).where(Fill.market_id == market_id)
    if since_id is not None:
        stmt = stmt.where(Fill.id < since_id)
    rows = await session.scalars(stmt.order_by(Fill.id.desc()).limit(limit))
    return [
        Trade(f.id, f.match_id, f.price, f.qty, f.quote, f.taker_side, f.created_at) for f in rows
    ]


async def trades_after(
    session: AsyncSession, market_id: int, after_id: int = 0, limit: int = 1000
) -> list[Trade]:
    """Fills of a market with an id greater than `after_id`, oldest first (for feeds that
    poll forward, e.g. Kraken's `Trades?since=`). The last id is the next `after_id`."""
    limit = max(1, min(limit, MAX_TRADES))
    stmt = select(Fill).where(Fill.market_id == market_id, Fill.id > after_id)
    rows = await session.scalars(stmt.order_by(Fill.id).limit(limit))
    return [
        Trade(f.id, f.match_id, f.price, f.qty, f.quote, f.taker_side, f.created_at) for f in rows
    ]


# ---------------------------------------------------------------------------- ticker


@dataclass(frozen=True, slots=True)
class Ticker:
    symbol: str
    market_id: int
    last_price: int | None  # the latest fill ever
    best_bid: int | None
    best_bid_qty: int | None
    best_ask: int | None
    best_ask_qty: int | None
    book_sequence: int
    # Over the last 24 h (fills with created_at >= now - 24 h); None without a trade.
    open: int | None
    high: int | None
    low: int | None
    close: int | None
    volume: int  # alpha-rao
    quote_volume: int  # rao
    vwap: int | None  # floor(quote_volume * 10^9 / volume): rao per alpha
    change: int | None  # close - open, rao per alpha
    change_bps: int | None  # (close - open) * 10000 // open (floored)
    trades: int
    pool_price: int  # the indexer's on-chain spot price, rao per alpha
    pool_block: int
    time: datetime

    def as_json(self) -> dict[str, Any]:
        def s(v: int | None) -> str | None:
            return None if v is None else str(v)

        return {
            "symbol": self.symbol,
            "last_price": s(self.last_price),
            "best_bid": s(self.best_bid),
            "best_bid_qty": s(self.best_bid_qty),
            "best_ask": s(self.best_ask),
            "best_ask_qty": s(self.best_ask_qty),
            "book_sequence": self.book_sequence,
            "open_24h": s(self.open),
            "high_24h": s(self.high),
            "low_24h": s(self.low),
            "close_24h": s(self.close),
            "volume_24h": str(self.volume),
            "quote_volume_24h": str(self.quote_volume),
            "vwap_24h": s(self.vwap),
            "change_24h": s(self.change),
            "change_bps_24h": self.change_bps,
            "trades_24h": self.trades,
            "pool_price": str(self.pool_price),
            "pool_block": self.pool_block,
            "time": self.time.isoformat(),
        }


# One round trip for any number of markets: the 24 h aggregates, the last price, and now().
_TICKER_STATS = text(
    """
    SELECT m.id AS market_id, now() AS now, st.open, st.high, st.low, st.close,
           st.volume, st.quote_volume, st.trades, lp.price AS last
    FROM unnest(CAST(:ids AS bigint[])) AS m(id)
    CROSS JOIN LATERAL (
        SELECT (array_agg(f.price ORDER BY f.id))[1] AS open,
               max(f.price) AS high, min(f.price) AS low,
               (array_agg(f.price ORDER BY f.id DESC))[1] AS close,
               coalesce(sum(f.qty), 0) AS volume, coalesce(sum(f.quote), 0) AS quote_volume,
               count(*) AS trades
        FROM fills f
        WHERE f.market_id = m.id AND f.created_at >= now() - interval '24 hours'
    ) st
    LEFT JOIN LATERAL (
        SELECT f.price FROM fills f WHERE f.market_id = m.id ORDER BY f.id DESC LIMIT 1
    ) lp ON true
    """
)


async def _tickers(
    session: AsyncSession, view: OrdersView, rows: list[tuple[Market, Subnet]]
) -> list[Ticker]:
    if not rows:
        return []
    ids = [m.id for m, _ in rows]
    stats = {int(r.market_id): r for r in await session.execute(_TICKER_STATS, {"ids": ids})}
    now = next(iter(stats.values())).now
    out: list[Ticker] = []
    for market, subnet in rows:
        depth = view.depth(market.id)
        bid = depth.bids[0] if depth.bids else None
        ask = depth.asks[0] if depth.asks else None
        st = stats[market.id]
        volume = int(st.volume)
        quote_volume = int(st.quote_volume)
        traded = st.trades > 0
        o = int(st.open) if traded else None
        c = int(st.close) if traded else None
        out.append(
            Ticker(
                symbol=market.symbol,
                market_id=market.id,
                last_price=int(st.last) if st.last is not None else None,
                best_bid=bid.price if bid else None,
                best_bid_qty=bid.qty if bid else None,
                best_ask=ask.price if ask else None,
                best_ask_qty=ask.qty if ask else None,
                book_sequence=view.sequence(market.id),
                open=o,
                high=int(st.high) if traded else None,
                low=int(st.low) if traded else None,
                close=c,
                volume=volume,
                quote_volume=quote_volume,
                vwap=quote_volume * UNIT // volume if volume else None,
                change=c - o if o is not None and c is not None else None,
                change_bps=(c - o) * BPS // o if o and c is not None else None,
                trades=int(st.trades),
                pool_price=int(subnet.price_rao),
                pool_block=int(subnet.last_block),
                time=now,
            )
        )
    return out


async def ticker(session: AsyncSession, view: OrdersView, market: Market) -> Ticker:
    """The ticker of one market (see `Ticker`)."""
    subnet = await session.get(Subnet, market.subnet_id)
    assert subnet is not None
    return (await _tickers(session, view, [(market, subnet)]))[0]


async def tickers(session: AsyncSession, view: OrdersView) -> list[Ticker]:
    """Tickers of every market, ordered by netuid."""
    rows = await session.execute(
        select(Market, Subnet).join(Subnet, Subnet.id == Market.subnet_id).order_by(Market.netuid)
    )
    return await _tickers(session, view, [(m, s) for m, s in rows])


async def ticker_by_symbol(session: AsyncSession, view: OrdersView, symbol: str) -> Ticker:
    """`ticker` for a symbol in any accepted spelling; unknown: `MarketNotFound` (404)."""
    row = (
        await session.execute(
            select(Market, Subnet)
            .join(Subnet, Subnet.id == Market.subnet_id)
            .where(Market.symbol == parse_symbol(symbol))
        )
    ).first()
    if row is None:
        raise MarketNotFound(f"no market {symbol}")
    return (await _tickers(session, view, [(row[0], row[1])]))[0]


# ---------------------------------------------------------------------------- candles


@dataclass(frozen=True, slots=True)
class Candle:
    start: datetime  # bucket start (UTC), inclusive; the bucket ends at start + interval
    open: int
    high: int
    low: int
    close: int
    volume: int  # alpha-rao
    quote_volume: int  # rao
    trades: int

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "open": str(self.open),
            "high": str(self.high),
            "low": str(self.low),
            "close": str(self.close),
            "volume": str(self.volume),
            "quote_volume": str(self.quote_volume),
            "trades": self.trades,
        }


_CANDLES = text(
    """
    SELECT date_bin(:step, f.created_at, :origin) AS start,
           (array_agg(f.price ORDER BY f.id))[1] AS open,
           max(f.price) AS high, min(f.price) AS low,
           (array_agg(f.price ORDER BY f.id DESC))[1] AS close,
           sum(f.qty) AS volume, sum(f.quote) AS quote_volume, count(*) AS trades
    FROM fills f
    WHERE f.market_id = :market_id AND f.created_at >= :start AND f.created_at < :end
    GROUP BY 1 ORDER BY 1
    """
)


def interval_of(name: str) -> timedelta:
    step = INTERVALS.get(name)
    if step is None:
        raise InvalidInterval(f"interval must be one of {', '.join(INTERVALS)}")
    return step


def bucket_start(at: datetime, step: timedelta) -> datetime:
    """The start of the bucket holding `at` (what `date_bin` computes)."""
    return at - (at - ORIGIN) % step


async def candles(
    session: AsyncSession,
    market_id: int,
    interval: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Candle]:
    """OHLCV buckets of `interval` (a key of `INTERVALS`) whose start lies in [start, end),
    oldest first.

    `start` is rounded down to a bucket start; defaults: end = now, start = end - 300
    intervals. A bucket without a trade has no candle (clients draw a gap or carry the
    previous close forward)."""
    return await candles_by_step(session, market_id, interval_of(interval), start, end)


async def candles_by_step(
    session: AsyncSession,
    market_id: int,
    step: timedelta,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Candle]:
    """`candles` for any whole-second bucket length (e.g. Kraken's 30 min, 1 week, 15 days),
    aligned on 2000-01-01T00:00Z."""
    if step < timedelta(seconds=1) or step.microseconds:
        raise InvalidInterval("the interval must be a whole number of seconds")
    end = _utc(end) if end is not None else datetime.now(UTC)
    start = _utc(start) if start is not None else end - step * 300
    start = bucket_start(start, step)
    if end <= start:
        raise InvalidRange("`to` must be after `from`")
    if (end - start) / step > MAX_CANDLES:
        raise InvalidRange(f"at most {MAX_CANDLES} intervals per request")
    rows = await session.execute(
        _CANDLES,
        {"step": step, "origin": ORIGIN, "market_id": market_id, "start": start, "end": end},
    )
    return [
        Candle(
            r.start,
            int(r.open),
            int(r.high),
            int(r.low),
            int(r.close),
            int(r.volume),
            int(r.quote_volume),
            int(r.trades),
        )
        for r in rows
    ]


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


# ---------------------------------------------------------------------------- pool quote


@dataclass(frozen=True, slots=True)
class SwapQuote:
    """One swap of `amount_in` (TAO rao for a buy, alpha-rao for a sell).

    `price` is the effective price in rao per whole alpha, fee included: for a buy
    floor(amount_in * 10^9 / amount_out), for a sell floor(amount_out * 10^9 / amount_in).
    `slippage_bps` compares it with the spot price (positive: worse than spot)."""

    side: str
    amount_in: int
    amount_out: int
    fee: int  # in the input asset for the pool; in TAO rao for the book
    price: int | None
    spot_price: int | None
    slippage_bps: str | None  # a decimal with 2 places
    filled: bool  # False: the book (or the pool) could not absorb the whole amount

    def as_json(self) -> dict[str, Any]:
        return {
            "amount_in": str(self.amount_in),
            "amount_out": str(self.amount_out),
            "fee": str(self.fee),
            "price": None if self.price is None else str(self.price),
            "spot_price": None if self.spot_price is None else str(self.spot_price),
            "slippage_bps": self.slippage_bps,
            "filled": self.filled,
        }


def _effective(side: str, amount_in: int, amount_out: int) -> int | None:
    if side == "buy":
        return amount_in * UNIT // amount_out if amount_out else None
    return amount_out * UNIT // amount_in if amount_in else None


def _slippage(side: str, price: int | None, spot: int | None) -> str | None:
    if price is None or not spot:
        return None
    worse = price - spot if side == "buy" else spot - price
    # Exact: a price of up to ~10^28 rao against a spot of 1 rao has 34 digits in bps, more
    # than the default context's 28 (quantize would raise InvalidOperation: a 500).
    with localcontext(prec=SLIPPAGE_DIGITS):
        return str((Decimal(worse) * BPS / Decimal(spot)).quantize(Decimal("0.01")))


def _check(side: str, amount: int) -> None:
    if side not in ("buy", "sell"):
        raise InvalidSide("side must be buy or sell")
    if amount <= 0 or amount > MAX_AMOUNT:
        raise InvalidAmount("amount must be a positive integer of base units below 2^63")


def pool_quote(subnet: Subnet, side: str, amount: int) -> SwapQuote:
    """What the subnet's pool gives now, from the indexer's latest state: a buy spends
    `amount` TAO rao (fee taken from it) for alpha, a sell swaps `amount` alpha-rao for TAO.
    Spot is the indexer's `price_rao`."""
    _check(side, amount)
    if subnet.tao_in <= 0 or subnet.alpha_in <= 0:
        raise NoPoolState("the subnet's pool is empty")
    if side == "buy":
        out, fee = quote_buy_alpha(subnet, amount)
    else:
        out, fee = quote_sell_alpha(subnet, amount)
    price = _effective(side, amount, out)
    spot = int(subnet.price_rao)
    return SwapQuote(side, amount, out, fee, price, spot, _slippage(side, price, spot), out > 0)


def book_quote(depth: Depth, side: str, amount: int, taker_bps: int, lot: int) -> SwapQuote:
    """Walk a (published) book as a taker: a buy spends at most `amount` TAO rao, notional
    plus the taker fee (TAO), on the asks; a sell sells `amount` alpha-rao (rounded down to
    the lot) into the bids and receives the notional less the taker fee. Quote amounts are
    computed per level (floor(price * qty / 10^9)), so the engine, which rounds per maker
    order, may differ by a few rao. Spot is the mid price (or the best level on one side)."""
    _check(side, amount)
    lot = max(lot, 1)
    spot = _mid(depth)
    got = notional = fee = 0
    if side == "buy":
        left = amount
        filled = False  # True once the budget, not the book, is the limit
        for level in depth.asks:
            # The largest lot multiple whose notional plus fee fits in what is left.
            qty = left * UNIT * BPS // (level.price * (BPS + taker_bps)) // lot * lot
            qty = min(qty, level.qty)
            while qty > 0 and _gross(level.price, qty, taker_bps) > left:
                qty -= lot
            if qty > 0:
                q = level.price * qty // UNIT
                notional += q
                fee += q * taker_bps // BPS  # per level: what is spent never exceeds amount
                left -= q + q * taker_bps // BPS
                got += qty
            if qty < level.qty:
                filled = True
                break
        spent = notional + fee
        price = _effective("buy", spent, got)
        return SwapQuote(side, spent, got, fee, price, spot, _slippage(side, price, spot), filled)
    left = amount // lot * lot
    sold = 0
    for level in depth.bids:
        qty = min(left, level.qty)
        if qty <= 0:
            break
        notional += level.price * qty // UNIT
        left -= qty
        sold += qty
    fee = notional * taker_bps // BPS
    got = notional - fee
    price = _effective("sell", sold, got)
    return SwapQuote(
        side, sold, got, fee, price, spot, _slippage(side, price, spot), sold == amount
    )


def _gross(price: int, qty: int, taker_bps: int) -> int:
    q = price * qty // UNIT
    return q + q * taker_bps // BPS


def _mid(depth: Depth) -> int | None:
    if depth.bids and depth.asks:
        return (depth.bids[0].price + depth.asks[0].price) // 2
    if depth.bids:
        return depth.bids[0].price
    if depth.asks:
        return depth.asks[0].price
    return None
