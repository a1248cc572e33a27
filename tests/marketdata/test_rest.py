"""Market-data REST: trades pagination, tickers and candles against values computed here
from the fill list, pool quotes against an independent weighted-pool computation."""

from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Context, Decimal
from fractions import Fraction
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SignedFactory
from tests.marketdata.conftest import limit, random_flow
from tests.orders.conftest import ALPHA, PRICE, TAO, Market

STEPS = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "4h": 14400,
    "1d": 86400,
}


async def all_trades(client: httpx.AsyncClient, page: int = 7) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": page}
        if cursor is not None:
            params["since"] = cursor
        body = (await client.get("/v1/markets/SN1-TAO/trades", params=params)).json()
        out.extend(body["trades"])
        cursor = body["next_cursor"]
        if cursor is None:
            return out


async def spread_fill_times(db: AsyncEngine, now: datetime) -> None:
    """Fills spread over the last ~30 h, some outside the ticker's 24 h window."""
    async with db.begin() as conn:
        ids = list((await conn.execute(text("SELECT id FROM fills ORDER BY id"))).scalars())
        for k, fill_id in enumerate(ids):
            at = now - timedelta(hours=30) + timedelta(minutes=37 * k, seconds=11 * k)
            await conn.execute(
                text("UPDATE fills SET created_at = :t WHERE id = :i"), {"t": at, "i": fill_id}
            )


async def test_trades_candles_and_ticker_match_the_fill_list(
    market: Market, signed: SignedFactory, client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    traders = [await market.trader(signed) for _ in range(3)]
    await random_flow(traders, 80, seed=3)
    now = datetime.now(UTC).replace(microsecond=0)
    await spread_fill_times(db, now)

    trades = await all_trades(client)
    assert len(trades) >= 20
    ids = [t["id"] for t in trades]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    fills = sorted(
        (
            t["id"],
            datetime.fromisoformat(t["time"]),
            int(t["price"]),
            int(t["qty"]),
            int(t["quote"]),
        )
        for t in trades
    )

    # Candles: bucket = floor(unix seconds / step) * step (UTC; 2000-01-01 is a multiple).
    for interval, step in STEPS.items():
        expected: dict[int, list[tuple[int, datetime, int, int, int]]] = {}
        for f in fills:
            expected.setdefault(int(f[1].timestamp()) // step * step, []).append(f)
        r = await client.get(
            "/v1/markets/SN1-TAO/candles",
            params={
                "interval": interval,
                "from": int((now - timedelta(hours=31)).timestamp()),
                "to": int((now + timedelta(minutes=5)).timestamp()),
            },
        )
        assert r.status_code == 200, r.text
        got = r.json()["candles"]
        want = [
            {
                "start": datetime.fromtimestamp(start, UTC).isoformat(),
                "open": str(group[0][2]),
                "high": str(max(f[2] for f in group)),
                "low": str(min(f[2] for f in group)),
                "close": str(group[-1][2]),
                "volume": str(sum(f[3] for f in group)),
                "quote_volume": str(sum(f[4] for f in group)),
                "trades": len(group),
            }
            for start, group in sorted(expected.items())
        ]
        assert got == want, interval

    # Ticker: the 24 h window from the same list (no fill within a minute of its edge).
    window = [f for f in fills if f[1] >= now - timedelta(hours=24)]
    assert window and len(window) < len(fills)
    volume = sum(f[3] for f in window)
    quote_volume = sum(f[4] for f in window)
    r = await client.get("/v1/markets/SN1-TAO/ticker")
    assert r.status_code == 200, r.text
    t = r.json()
    book = (await client.get("/v1/markets/SN1-TAO/book", params={"depth": 1})).json()
    o, c = window[0][2], window[-1][2]
    assert t == {
        **t,
        "symbol": "SN1/TAO",
        "last_price": str(fills[-1][2]),
        "open_24h": str(o),
        "high_24h": str(max(f[2] for f in window)),
        "low_24h": str(min(f[2] for f in window)),
        "close_24h": str(c),
        "volume_24h": str(volume),
        "quote_volume_24h": str(quote_volume),
        "vwap_24h": str(quote_volume * 10**9 // volume),
        "change_24h": str(c - o),
        "change_bps_24h": (c - o) * 10_000 // o,
        "trades_24h": len(window),
        "best_bid": book["bids"][0]["price"] if book["bids"] else None,
        "best_bid_qty": book["bids"][0]["qty"] if book["bids"] else None,
        "best_ask": book["asks"][0]["price"] if book["asks"] else None,
        "best_ask_qty": book["asks"][0]["qty"] if book["asks"] else None,
        "book_sequence": book["sequence"],
        "pool_price": str(PRICE),
    }
    all_tickers = (await client.get("/v1/tickers")).json()
    assert [x["symbol"] for x in all_tickers] == ["SN1/TAO"]
    assert {k: v for k, v in all_tickers[0].items() if k != "time"} == {
        k: v for k, v in t.items() if k != "time"
    }


def pool_out(reserve_in: int, reserve_out: int, amount: int, fee_rate: int, num: int, den: int):
    """Independent: fee floor(amount * fee_rate / 65535), then the weighted formula, floored."""
    fee = amount * fee_rate // 65535
    net = amount - fee
    if num == den:
        out = Fraction(reserve_out) * (1 - Fraction(reserve_in, reserve_in + net))
        return int(out), fee  # Fraction >= 0: int() floors
    ctx = Context(prec=120)
    power = ctx.power(
        ctx.divide(Decimal(reserve_in), Decimal(reserve_in + net)),
        ctx.divide(Decimal(num), Decimal(den)),
    )
    out_d = ctx.multiply(Decimal(reserve_out), ctx.subtract(Decimal(1), power))
    return int(out_d.to_integral_value(rounding=ROUND_FLOOR)), fee


@pytest.mark.parametrize("quote_weight", [5 * 10**17, 3 * 10**17, 62 * 10**16])
async def test_pool_quote_matches_the_weighted_pool_formula(
    market: Market,
    signed: SignedFactory,
    client: httpx.AsyncClient,
    db: AsyncEngine,
    quote_weight: int,
) -> None:
    async with db.begin() as conn:
        await conn.execute(text("UPDATE subnets SET quote_weight = :w"), {"w": quote_weight})
        row = (
            await conn.execute(text("SELECT tao_in, alpha_in, fee_rate, price_rao FROM subnets"))
        ).one()
    y, x, fee_rate, spot = int(row[0]), int(row[1]), int(row[2]), int(row[3])
    w2 = quote_weight
    w1 = 10**18 - w2
    for side, amount in (
        ("buy", 1),
        ("buy", 123_456_789),
        ("buy", 5_000 * TAO + 7),
        ("sell", 999),
        ("sell", 77 * ALPHA + 3),
        ("sell", 400_000 * ALPHA),
    ):
        r = await client.get(
            "/v1/markets/SN1/TAO/pool-quote".replace("/TAO", "-TAO"),
            params={"side": side, "amount": str(amount)},
        )
        assert r.status_code == 200, r.text
        pool = r.json()["pool"]
        if side == "buy":
            out, fee = pool_out(y, x, amount, fee_rate, w2, w1)
        else:
            out, fee = pool_out(x, y, amount, fee_rate, w1, w2)
        assert (pool["amount_out"], pool["fee"]) == (str(out), str(fee)), (side, amount)
        assert pool["spot_price"] == str(spot)
        if out:
            price = amount * 10**9 // out if side == "buy" else out * 10**9 // amount
            assert pool["price"] == str(price)


async def test_book_side_of_the_quote(
    market: Market, signed: SignedFactory, client: httpx.AsyncClient
) -> None:
    maker = await market.trader(signed)
    await maker.post("/v1/orders", limit("sell", PRICE, 2 * ALPHA))
    await maker.post("/v1/orders", limit("sell", PRICE + 1_000_000, 3 * ALPHA))
    await maker.post("/v1/orders", limit("buy", PRICE - 1_000_000, 4 * ALPHA))
    # Sell 5 alpha: 4 fill against the bid, 1 is left: not filled.
    q = (await client.get("/v1/markets/SN1-TAO/pool-quote?side=sell&amount=5000000000")).json()
    notional = (PRICE - 1_000_000) * 4
    fee = notional * 20 // 10_000
    assert q["book"]["amount_in"] == str(4 * ALPHA)
    assert q["book"]["amount_out"] == str(notional - fee)
    assert q["book"]["filled"] is False and q["better"] == "pool"
    # Buy with 0.2 TAO: all of the first ask, then whole lots of the second while the
    # notional plus the taker fee still fits.
    budget = 200_000_000
    q = (await client.get(f"/v1/markets/SN1-TAO/pool-quote?side=buy&amount={budget}")).json()

    def gross(price: int, qty: int) -> int:
        notional = price * qty // ALPHA
        return notional + notional * 20 // 10_000

    left = budget - gross(PRICE, 2 * ALPHA)
    lots = 0
    while gross(PRICE + 1_000_000, (lots + 1) * 1_000_000) <= left:
        lots += 1
    second = lots * 1_000_000
    n1, n2 = PRICE * 2, (PRICE + 1_000_000) * second // ALPHA
    fee = n1 * 20 // 10_000 + n2 * 20 // 10_000
    assert q["book"]["amount_out"] == str(2 * ALPHA + second)
    assert q["book"]["fee"] == str(fee)
    assert int(q["book"]["amount_in"]) == n1 + n2 + fee <= budget
    assert q["book"]["filled"] is True and q["better"] in ("book", "pool")


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/markets/SN9-TAO/trades", 404, "market_not_found"),
        ("/v1/markets/SN9-TAO/ticker", 404, "market_not_found"),
        ("/v1/markets/SN9-TAO/candles?interval=1m", 404, "market_not_found"),
        ("/v1/markets/SN9-TAO/pool-quote?side=buy&amount=1", 404, "market_not_found"),
        ("/v1/markets/SN1-TAO/candles?interval=2m", 422, "validation_error"),
        ("/v1/markets/SN1-TAO/candles?interval=1m&from=2000&to=1000", 400, "invalid_range"),
        ("/v1/markets/SN1-TAO/candles?interval=1m&from=0&to=999999999", 400, "invalid_range"),
        ("/v1/markets/SN1-TAO/candles?interval=1m&from=yesterday", 422, "validation_error"),
        # Times out of range: were an OverflowError (500) in `end - 300 intervals` or UTC.
        (
            "/v1/markets/SN1-TAO/candles?interval=1d&to=0001-01-02T00:00:00Z",
            422,
            "validation_error",
        ),
        (
            "/v1/markets/SN1-TAO/candles?interval=1m&from=0001-01-01T00:00:00%2B05:00",
            422,
            "validation_error",
        ),
        (
            "/v1/markets/SN1-TAO/candles?interval=1m&to=9999-12-31T23:59:59-05:00",
            422,
            "validation_error",
        ),
        (
            "/v1/markets/SN1-TAO/candles?interval=1m&to=99999999999999999999",
            422,
            "validation_error",
        ),
        ("/v1/markets/SN1-TAO/trades?limit=0", 422, "validation_error"),
        ("/v1/markets/SN1-TAO/trades?limit=5000", 422, "validation_error"),
        ("/v1/markets/SN1-TAO/trades?limit=%2B5", 422, "validation_error"),
        ("/v1/markets/SN1-TAO/trades?limit=05", 422, "validation_error"),
        ("/v1/markets/SN1-TAO/trades?since=abc", 422, "validation_error"),
        ("/v1/markets/SN1-TAO/trades?since=%EF%BC%91", 422, "validation_error"),  # fullwidth 1
        ("/v1/markets/SN1-TAO/book?depth=%20100", 422, "validation_error"),
        ("/v1/markets/SN1-TAO/pool-quote?side=hold&amount=1", 422, "validation_error"),
        ("/v1/markets/SN1-TAO/pool-quote?side=buy&amount=abc", 422, "validation_error"),
        ("/v1/markets/SN1-TAO/pool-quote?side=buy&amount=0", 422, "validation_error"),
        ("/v1/markets/SN1-TAO/pool-quote?side=buy&amount=-5", 422, "validation_error"),
        ("/v1/markets/SN1-TAO/pool-quote?side=buy&amount=1.5", 422, "validation_error"),
        (
            "/v1/markets/SN1-TAO/pool-quote?side=buy&amount=%C2%B2",
            422,
            "validation_error",
        ),  # "²": was a 500
        (
            "/v1/markets/SN1-TAO/pool-quote?side=buy&amount=99999999999999999999",
            422,
            "validation_error",
        ),
        ("/v1/markets/SN1-TAO/pool-quote?side=buy", 422, "validation_error"),
    ],
)
async def test_bad_parameters(
    market: Market, client: httpx.AsyncClient, path: str, status: int, code: str
) -> None:
    r = await client.get(path)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code


async def test_empty_market(market: Market, client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/markets/SN1-TAO/trades")).json() == {
        "symbol": "SN1/TAO",
        "trades": [],
        "next_cursor": None,
    }
    t = (await client.get("/v1/markets/SN1-TAO/ticker")).json()
    assert t["last_price"] is None and t["volume_24h"] == "0" and t["best_bid"] is None
    c = (await client.get("/v1/markets/SN1-TAO/candles?interval=1d")).json()
    assert c["candles"] == []


async def test_candles_by_step_any_bucket_length(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.marketdata.service import InvalidInterval, candles_by_step

    alice, bob = await market.trader(signed), await market.trader(signed)
    await alice.post("/v1/orders", limit("sell", PRICE, 2 * ALPHA))
    await bob.post("/v1/orders", limit("buy", PRICE, ALPHA))
    await bob.post("/v1/orders", limit("buy", PRICE, ALPHA))
    async with async_sessionmaker(db)() as session:
        market_id = int(await session.scalar(text("SELECT id FROM markets")) or 0)
        week = await candles_by_step(session, market_id, timedelta(weeks=1))
        assert [(c.open, c.volume, c.trades) for c in week] == [(PRICE, 2 * ALPHA, 2)]
        assert week[0].start.weekday() == 5  # 2000-01-01, the origin, was a Saturday
        with pytest.raises(InvalidInterval):
            await candles_by_step(session, market_id, timedelta(milliseconds=1500))


def test_slippage_of_any_price_against_any_spot_is_exact() -> None:
    """A huge buy against a 1-rao spot has 34 digits of bps: beyond the default decimal
    context (quantize raised InvalidOperation, a 500 for a pool or book quote)."""
    from app.marketdata.service import _slippage, book_quote
    from app.matching import Depth, DepthLevel

    price = (2**63 - 1) * 10**9  # the most a buy of 2^63-1 rao for 1 alpha-rao can cost
    assert _slippage("buy", price, 1) == f"{(price - 1) * 10_000}.00"
    assert _slippage("sell", 1, 3) == "6666.67"
    assert _slippage("buy", 50_120_000, 50_000_000) == "24.00"
    # The same through a book: one alpha-rao on offer at the top of a 1-rao-wide spread.
    depth = Depth([DepthLevel(1, 1, 1)], [DepthLevel(2, 1, 1)])
    quote = book_quote(depth, "buy", 2**63 - 1, 0, 1)
    assert quote.slippage_bps is not None and quote.slippage_bps.endswith(".00")
