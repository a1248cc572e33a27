"""Acceptance: Kraken's WebSocket API as `ccxt.pro.kraken` uses it, against a real server
process, with only the client's URLs changed (REST, and `urls['api']['ws']`: `publicV2` and
`privateV2` at `/ws/kraken/v2`, `public` and `private` at `/ws/kraken`).

The book is watched with ccxt's checksum verification on: ccxt recomputes Kraken's CRC32 from
its own copy of the book after every message and raises ChecksumError on a mismatch. (In the
installed ccxt the Python transpilation of that check calls `str.split` on the floats its
book holds, so `format_number` is given the decimal text of the float, 9 decimals: the text
this server sends. Nothing else of the client is changed.) The check reads ten levels a side,
so the book here always keeps more than ten on each side.

The tests of this module share one server and run in order."""

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import ccxt
import ccxt.pro
import pytest

from app.auth.tokens import TokenIssuer
from tests.conftest import SERVER_KEY
from tests.kraken.conftest import Env

pytestmark = pytest.mark.acceptance  # a real server process

SYMBOL = "SN1/TAO"
D = Decimal
T = TypeVar("T")
WAIT = 20.0  # seconds: the bound of every wait for a condition


class Pro(ccxt.pro.kraken):  # type: ignore[misc]
    def format_number(self, data: Any) -> str:
        text = data if isinstance(data, str) else f"{data:.9f}"
        return str(super().format_number(text))


def pro(env: Env, who: str | None = None) -> Pro:
    config: dict[str, Any] = {
        "enableRateLimit": False,
        "options": {"watchOrderBook": {"checksum": True}},
    }
    if who is not None:
        config.update(apiKey=env.keys[who].key, secret=env.keys[who].secret)
    ex = Pro(config)
    ws = env.url.replace("http://", "ws://")
    ex.urls["api"] = {
        "public": env.url,
        "private": env.url,
        "ws": {
            "publicV2": f"{ws}/ws/kraken/v2",
            "privateV2": f"{ws}/ws/kraken/v2",
            "public": f"{ws}/ws/kraken",
            "private": f"{ws}/ws/kraken",
        },
    }
    return ex


@pytest.fixture
async def clients(kraken: Env) -> AsyncIterator[dict[str, Pro]]:
    made = {who: pro(kraken, who) for who in ("alice", "bob", "carol")}
    made["public"] = pro(kraken)
    try:
        yield made
    finally:
        for ex in made.values():
            await ex.close()


async def until(
    watch: Callable[[], Awaitable[T]],
    condition: Callable[[T], bool],
    what: str = "",
    current: Callable[[], T | None] = lambda: None,
) -> T:
    """Watch until the condition holds (bounded): never a fixed sleep. ccxt applies every
    message as it arrives and resolves a watch with the next one: `current` is what it
    holds already (the messages that came while nobody was watching)."""
    last: list[T] = []

    async def loop() -> T:
        now = current()
        if now is not None and condition(now):
            return now
        while True:
            value = await watch()
            last[:] = [value]
            if condition(value):
                return value

    try:
        return await asyncio.wait_for(loop(), WAIT)
    except TimeoutError:
        raise AssertionError(f"never happened: {what} (last seen: {last})") from None


def top(book: Any, n: int = 10) -> tuple[list[list[float]], list[list[float]]]:
    return [lv[:2] for lv in book["bids"][:n]], [lv[:2] for lv in book["asks"][:n]]


async def rest_book(env: Env) -> tuple[list[list[float]], list[list[float]]]:
    book = await asyncio.to_thread(env.ccxt("carol").fetch_order_book, SYMBOL, 10)
    return top(book)


async def same_book(env: Env, ex: Pro, what: str) -> None:
    """ccxt's book (checksum verified on every message) reaches the REST book."""
    want = await rest_book(env)
    await until(
        lambda: ex.watch_order_book(SYMBOL),
        lambda b: top(b) == want,
        what,
        lambda: ex.orderbooks.get(SYMBOL),
    )


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Awaitable[T]:
    """A REST call of the synchronous CCXT client, off the event loop."""
    return asyncio.to_thread(fn, *args, **kwargs)


async def fresh_book(env: Env) -> None:
    """Only the deep levels (bids alice's, asks bob's): what a test trades against is known,
    whatever earlier tests left (and no order meets its own trader's)."""
    for who in ("alice", "bob", "carol"):
        await call(env.ccxt(who).cancel_all_orders)
    await deepen(env)


async def deepen(env: Env, levels: int = 12) -> None:
    """At least `levels` levels a side, far from the touch (ccxt's check reads ten)."""
    alice, bob = env.ccxt("alice"), env.ccxt("bob")
    book = await call(alice.fetch_order_book, SYMBOL, 100)
    bids, asks = {p for p, *_ in book["bids"]}, {p for p, *_ in book["asks"]}
    for i in range(levels):
        bid, ask = round(0.049 - i * 0.0005, 6), round(0.051 + i * 0.0005, 6)
        if len(bids) < levels and bid not in bids:
            await call(alice.create_order, SYMBOL, "limit", "buy", 1 + i, bid)
            bids.add(bid)
        if len(asks) < levels and ask not in asks:
            await call(bob.create_order, SYMBOL, "limit", "sell", 1 + i, ask)
            asks.add(ask)


async def test_the_book_stays_equal_to_the_rest_book_through_orders_cancels_and_fills(
    kraken: Env, clients: dict[str, Pro]
) -> None:
    alice, bob, carol = kraken.ccxt("alice"), kraken.ccxt("bob"), kraken.ccxt("carol")
    for ex in (alice, bob, carol):
        await call(ex.load_markets)
    await deepen(kraken)
    watcher = clients["public"]
    book = await watcher.watch_order_book(SYMBOL)
    assert top(book) == await rest_book(kraken)
    deep = pro(kraken)
    try:
        assert top(await deep.watch_order_book(SYMBOL, 25), 25) == top(
            await call(carol.fetch_order_book, SYMBOL, 25), 25
        )
    finally:
        await deep.close()

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("a new best bid", lambda: alice.create_order(SYMBOL, "limit", "buy", 2.5, 0.0495)),
        ("a new best ask", lambda: bob.create_order(SYMBOL, "limit", "sell", 0.75, 0.0505)),
        ("more at a level", lambda: carol.create_order(SYMBOL, "limit", "buy", 1, 0.049)),
        ("a partial fill", lambda: carol.create_order(SYMBOL, "market", "sell", 1)),
        ("a sweep of levels", lambda: carol.create_order(SYMBOL, "market", "buy", 4)),
        ("a level past ten", lambda: alice.create_order(SYMBOL, "limit", "buy", 1, 0.0425)),
    ]
    for what, step in steps:
        await call(step)
        await same_book(kraken, watcher, what)
    # Cancels: a whole level, a part of one, then an amend in place.
    opened = await call(alice.fetch_open_orders, SYMBOL)
    at_049 = [o for o in opened if o["price"] == 0.049]
    await call(alice.cancel_order, at_049[0]["id"])
    await same_book(kraken, watcher, "a cancel at the best bid")
    best = next(o for o in opened if o["price"] == 0.0485)
    await call(alice.edit_order, best["id"], SYMBOL, "limit", "buy", 1.5)
    await same_book(kraken, watcher, "an amend down")
    # A burst: many commits in a row, the book reached at the end, every message verified.
    for i in range(10):
        await call(carol.create_order, SYMBOL, "limit", "sell", 0.5, 0.0515 + i * 0.0001)
    await call(carol.create_order, SYMBOL, "market", "buy", 3)
    await same_book(kraken, watcher, "a burst")

    # A seeded random stream: orders on both sides (some crossing), cancels, market orders;
    # after each, ccxt's book (every message checksum-verified) is the REST book.
    rng = random.Random(18)
    traders = {"alice": alice, "bob": bob, "carol": carol}
    mine: list[tuple[str, str]] = []
    for n in range(40):
        if n % 10 == 0:
            await deepen(kraken)
        who = rng.choice(list(traders))
        trader = traders[who]
        roll = rng.random()
        if roll < 0.25 and mine:
            owner, oid = mine.pop(rng.randrange(len(mine)))
            with contextlib.suppress(ccxt.OrderNotFound, ccxt.InvalidOrder):
                await call(traders[owner].cancel_order, oid)  # it may have been filled
            what = "a cancel"
        elif roll < 0.4:
            side = rng.choice(("buy", "sell"))
            await call(trader.create_order, SYMBOL, "market", side, rng.randint(1, 8) / 4)
            what = "a market order"
        else:
            side = rng.choice(("buy", "sell"))
            price = round(0.05 + rng.randint(-8, 8) * 0.0002, 6)
            order = await call(
                trader.create_order, SYMBOL, "limit", side, rng.randint(1, 12) / 4, price
            )
            mine.append((who, order["id"]))
            what = f"a limit {side} at {price}"
        await same_book(kraken, watcher, f"step {n}: {what}")


async def test_trades_ticker_and_candles_deliver_what_happened(
    kraken: Env, clients: dict[str, Pro]
) -> None:
    alice, bob = kraken.ccxt("alice"), kraken.ccxt("bob")
    watcher = clients["public"]
    await fresh_book(kraken)
    await watcher.watch_trades(SYMBOL)  # the snapshot: the last 50 trades
    await watcher.watch_ticker(SYMBOL)
    await watcher.watch_ohlcv(SYMBOL, "1m")
    before = {t["id"] for t in await call(alice.fetch_trades, SYMBOL)}
    await call(bob.create_order, SYMBOL, "limit", "sell", 1.25, 0.0503)
    await call(alice.create_order, SYMBOL, "market", "buy", 2)
    rest = [t for t in await call(alice.fetch_trades, SYMBOL) if t["id"] not in before]
    assert len(rest) >= 2  # 1.25 at 0.0503 from bob, the rest from bob's asks above

    def shape(trades: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(t["id"], t["price"], t["amount"], t["side"]) for t in trades]

    want = shape(rest)
    seen = await until(
        lambda: watcher.watch_trades(SYMBOL),
        lambda ts: shape([t for t in ts if t["id"] not in before]) == want,
        "the new trades",
        lambda: watcher.trades.get(SYMBOL),
    )
    # The same moments: REST writes seconds with 4 decimals (rounded), v2 microseconds.
    times = [t["timestamp"] for t in seen if t["id"] not in before]
    assert all(abs(a - t["timestamp"]) <= 1 for a, t in zip(times, rest, strict=True))
    ticker = await call(alice.fetch_ticker, SYMBOL)
    keys = ("bid", "ask", "last", "baseVolume", "vwap", "high", "low")
    await until(
        lambda: watcher.watch_ticker(SYMBOL),
        lambda t: all(t[k] == ticker[k] for k in keys),
        "the ticker",
        lambda: watcher.tickers.get(SYMBOL),
    )
    candles = await call(alice.fetch_ohlcv, SYMBOL, "1m")
    last = candles[-1]
    await until(
        lambda: watcher.watch_ohlcv(SYMBOL, "1m"),
        lambda cs: any(c == last for c in cs),
        "the last candle",
        lambda: watcher.ohlcvs.get(SYMBOL, {}).get("1m"),
    )
    # Every Kraken interval can be subscribed to (ccxt keys its candles by symbol only: a
    # client a timeframe).
    for timeframe in ("5m", "15m", "30m", "1h", "4h", "1d", "1w", "2w"):
        other = pro(kraken)
        try:
            got = await asyncio.wait_for(other.watch_ohlcv(SYMBOL, timeframe), WAIT)
        finally:
            await other.close()
        rest_candles = await call(alice.fetch_ohlcv, SYMBOL, timeframe)
        assert got[-1] == rest_candles[-1], timeframe


async def _rest_order(env: Env, who: str, order_id: str) -> dict[str, Any]:
    return await call(env.ccxt(who).fetch_order, order_id)


def close(a: Any, b: Any) -> bool:
    return a == b or (a is not None and b is not None and abs(D(str(a)) - D(str(b))) <= D("1e-9"))


async def test_orders_my_trades_and_balances_deliver_what_happened(
    kraken: Env, clients: dict[str, Pro]
) -> None:
    alice = clients["alice"]
    bob = kraken.ccxt("bob")
    rest_alice = kraken.ccxt("alice")
    await fresh_book(kraken)
    await alice.watch_balance()  # the snapshot
    placed = await call(rest_alice.create_order, SYMBOL, "limit", "sell", 3, 0.0502)
    # The snapshot of open orders (ccxt asks for it) holds the order, as REST has it.
    snapshot = await alice.watch_orders(SYMBOL)
    assert any(o["id"] == placed["id"] and o["status"] == "open" for o in snapshot)
    await call(bob.create_order, SYMBOL, "limit", "buy", 1.25, 0.0502)  # a partial fill

    def order_of(orders: list[dict[str, Any]]) -> dict[str, Any] | None:
        found = [o for o in orders if o["id"] == placed["id"]]
        return found[-1] if found else None

    rest = await _rest_order(kraken, "alice", placed["id"])
    seen = await until(
        lambda: alice.watch_orders(SYMBOL),
        lambda os: (o := order_of(os)) is not None and close(o["cost"], rest["cost"]),
        "the partial fill",
        lambda: alice.orders,
    )
    got = order_of(seen)
    assert got is not None
    for k in ("id", "symbol", "side", "type", "status", "price", "amount", "cost", "average"):
        assert close(got[k], rest[k]), (k, got[k], rest[k])
    assert close(got["info"]["cum_qty"], rest["filled"]) and rest["filled"] == 1.25
    assert got["info"]["order_status"] == "partially_filled"

    mine = await call(rest_alice.fetch_my_trades, SYMBOL)
    last = mine[-1]
    trades = await until(
        lambda: alice.watch_my_trades(SYMBOL),
        lambda ts: any(t["id"] == last["id"] for t in ts),
        "the trade",
        lambda: alice.myTrades,
    )
    trade = next(t for t in trades if t["id"] == last["id"])
    for k in ("order", "symbol", "side", "price", "amount", "cost", "takerOrMaker"):
        assert close(trade[k], last[k]), (k, trade[k], last[k])
    assert close(trade["fee"]["cost"], last["fee"]["cost"])
    assert trade["fee"]["currency"] == "TAO"

    # The rest fills: the order is closed, as REST says.
    await call(bob.create_order, SYMBOL, "market", "buy", 1.75)
    rest = await _rest_order(kraken, "alice", placed["id"])
    assert rest["status"] == "closed"
    seen = await until(
        lambda: alice.watch_orders(SYMBOL),
        lambda os: (o := order_of(os)) is not None and o["status"] == "closed",
        "the fill",
        lambda: alice.orders,
    )
    got = order_of(seen)
    assert got is not None
    for k in ("status", "amount", "cost", "average"):
        assert close(got[k], rest[k]), (k, got[k], rest[k])
    assert close(got["info"]["cum_qty"], rest["filled"]) and rest["filled"] == 3
    # Both of its trades, as REST's TradesHistory has them.
    mine = [t for t in await call(rest_alice.fetch_my_trades, SYMBOL) if t["order"] == placed["id"]]
    assert len(mine) == 2
    trades = await until(
        lambda: alice.watch_my_trades(SYMBOL),
        lambda ts: {t["id"] for t in mine} <= {t["id"] for t in ts},
        "both trades",
        lambda: alice.myTrades,
    )
    for want_trade in mine:
        got_trade = next(t for t in trades if t["id"] == want_trade["id"])
        for k in ("order", "price", "amount", "cost", "takerOrMaker"):
            assert close(got_trade[k], want_trade[k]), (k, got_trade[k], want_trade[k])
        # The same moment: REST writes seconds with 4 decimals (rounded), v2 microseconds.
        assert abs(got_trade["timestamp"] - want_trade["timestamp"]) <= 1
        assert close(got_trade["fee"]["cost"], want_trade["fee"]["cost"])

    # Balances: totals exactly as REST has them.
    def totals(b: dict[str, Any]) -> dict[str, Any]:
        return {c: b[c]["total"] for c in ("TAO", "SN1") if c in b}

    want = totals(await call(rest_alice.fetch_balance))
    await until(
        alice.watch_balance,
        lambda b: all(close(totals(b).get(c), v) for c, v in want.items()),
        "the balances",
        lambda: alice.balance.get("spot"),
    )


async def test_orders_placed_amended_and_cancelled_over_the_websocket(
    kraken: Env, clients: dict[str, Pro]
) -> None:
    alice = clients["alice"]
    rest_alice = kraken.ccxt("alice")
    start = await call(rest_alice.fetch_balance)
    created = await alice.create_order_ws(SYMBOL, "limit", "buy", 2, 0.045)
    fetched = await _rest_order(kraken, "alice", created["id"])
    assert (fetched["status"], fetched["amount"], fetched["price"]) == ("open", 2, 0.045)
    edited = await alice.edit_order_ws(created["id"], SYMBOL, "limit", "buy", 3, 0.0455)
    assert edited["id"] == created["id"]
    fetched = await _rest_order(kraken, "alice", created["id"])
    assert (fetched["amount"], fetched["price"]) == (3, 0.0455)
    await alice.cancel_order_ws(created["id"])
    assert (await _rest_order(kraken, "alice", created["id"]))["status"] == "canceled"

    ids = [(await alice.create_order_ws(SYMBOL, "limit", "buy", 1, 0.044))["id"] for _ in "ab"]
    more = [(await alice.create_order_ws(SYMBOL, "limit", "buy", 1, 0.0441))["id"] for _ in "ab"]
    await alice.cancel_orders_ws(more)
    for oid in more:  # each is answered; the first answer resolves ccxt's call
        fetched = await _rest_order(kraken, "alice", oid)
        assert fetched["status"] == "canceled", fetched

    answer = await alice.cancel_all_orders_ws()
    assert answer["result"]["count"] >= 2
    for oid in ids:
        assert (await _rest_order(kraken, "alice", oid))["status"] == "canceled"
    end = await call(rest_alice.fetch_balance)
    assert end["TAO"]["used"] == 0 and end["TAO"]["total"] == start["TAO"]["total"]

    # Refusals, with the exceptions ccxt maps.
    with pytest.raises(ccxt.InsufficientFunds):
        await alice.create_order_ws(SYMBOL, "limit", "buy", 5000, 0.045)
    with pytest.raises(ccxt.InvalidOrder):
        await alice.create_order_ws(SYMBOL, "limit", "buy", 0.005, 0.045)
    bobs = await call(kraken.ccxt("bob").create_order, SYMBOL, "limit", "sell", 1, 0.06)
    with pytest.raises(ccxt.OrderNotFound):
        await alice.cancel_order_ws(bobs["id"])
    with pytest.raises(ccxt.OrderNotFound):
        await alice.edit_order_ws(bobs["id"], SYMBOL, "limit", "sell", 2, 0.06)
    assert (await _rest_order(kraken, "bob", bobs["id"]))["amount"] == 1  # untouched


async def test_a_bad_token_and_an_expired_one_are_refused(
    kraken: Env, clients: dict[str, Pro]
) -> None:
    alice = clients["alice"]
    await alice.load_markets()
    token = (await call(kraken.ccxt("alice").private_post_getwebsocketstoken))["result"]["token"]
    key_id = int(token.split(".")[1])
    expired = TokenIssuer(SERVER_KEY.encode(), 300).issue(key_id, now=time.time() - 600).token
    cache = alice.client(alice.urls["api"]["ws"]["private"]).subscriptions
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), expired, "nonsense"):
        cache["authenticated"] = {"token": bad, "start": alice.seconds(), "expires": 300}
        with pytest.raises(ccxt.AuthenticationError, match="ESession:Invalid session"):
            await alice.create_order_ws(SYMBOL, "limit", "buy", 1, 0.045)
    # A read-only key's token may watch but not trade.
    reader = pro(kraken, "reader")
    try:
        await reader.watch_balance()
        with pytest.raises(ccxt.PermissionDenied):
            await reader.create_order_ws(SYMBOL, "limit", "buy", 1, 0.045)
    finally:
        await reader.close()


async def test_a_reconnect_mid_stream_resynchronises_the_book(
    kraken: Env, clients: dict[str, Pro]
) -> None:
    alice, bob, carol = kraken.ccxt("alice"), kraken.ccxt("bob"), kraken.ccxt("carol")
    watcher = clients["public"]
    await fresh_book(kraken)
    await same_book(kraken, watcher, "the start")
    url = watcher.urls["api"]["ws"]["publicV2"]
    dropped = watcher.clients[url]
    # The network drops; meanwhile the book changes.
    dropped.on_error(ccxt.NetworkError("the network dropped"))
    await call(alice.create_order, SYMBOL, "limit", "buy", 1, 0.0497)
    await call(bob.create_order, SYMBOL, "limit", "sell", 2, 0.0503)
    await call(carol.create_order, SYMBOL, "market", "sell", 0.5)
    # Watching again reconnects: a new snapshot, then updates, all verified.
    await same_book(kraken, watcher, "after the reconnect")
    assert watcher.clients[url] is not dropped and dropped.closed()
    await call(carol.create_order, SYMBOL, "market", "buy", 1)
    await call(alice.create_order, SYMBOL, "limit", "buy", 1, 0.0498)
    await same_book(kraken, watcher, "after more changes")
