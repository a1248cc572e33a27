"""Acceptance: trading as a bot does it, with CCXT's `kraken` class (changed only in its base
URL) against a real server process: amends up and down with exact holds, every refusal
with CCXT's exception and nothing changed, stop-loss and take-profit orders, the dead man's
switch, batch cancels, fees, the ledger, concurrent requests on one key. The tests of this
module share one server and run in order."""

import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.kraken.conftest import Env

pytestmark = pytest.mark.acceptance  # a real server process

SYMBOL = "SN1/TAO"
D = Decimal
MIN_NOTIONAL = 10_000_000  # 0.01 TAO
BAND_BPS = 2000  # 20% around the pool price (0.05)


async def _sql(engine: AsyncEngine, sql: str, **params: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(sql), params)


@pytest.fixture(scope="module")
async def env(kraken: Env, engine: AsyncEngine) -> Env:
    """The shared server, with a minimum notional and a 20% band on SN1/TAO (the server
    reads a market's rules with every commit group)."""
    await _sql(
        engine,
        "UPDATE markets SET min_notional = :n, price_band_bps = :b WHERE symbol = 'SN1/TAO'",
        n=MIN_NOTIONAL,
        b=BAND_BPS,
    )
    return kraken


def balances(ex: ccxt.kraken) -> dict[str, tuple[Decimal, Decimal]]:
    """asset -> (total, held), exactly (Kraken's decimal strings)."""
    raw = ex.private_post_balanceex()["result"]
    return {a: (D(v["balance"]), D(v["hold_trade"])) for a, v in raw.items()}


def snapshot(env: Env) -> Any:
    """Every trader's balances and open orders: what a refusal must leave as it was."""
    out = {}
    for who in ("alice", "bob", "carol"):
        ex = env.ccxt(who)
        opened = ex.private_post_openorders()["result"]["open"]
        out[who] = (
            balances(ex),
            {k: (v["vol"], v["descr"]["price"], v["descr"]["price2"]) for k, v in opened.items()},
        )
    return out


def refused(env: Env, error: type[Exception], match: str, call: Callable[[], Any]) -> None:
    before = snapshot(env)
    with pytest.raises(error, match=match):
        call()
    assert snapshot(env) == before, "a refusal changed something"


def until(condition: Callable[[], bool], seconds: float = 30) -> None:
    """Wait for a condition (bounded), not for a fixed time."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.05)


def test_an_empty_book_refuses_every_market_order_alike(env: Env) -> None:
    carol = env.ccxt("carol")
    carol.load_markets()
    for call in (
        lambda: carol.create_order(SYMBOL, "market", "buy", 1),
        lambda: carol.create_market_buy_order_with_cost(SYMBOL, 0.1),
        lambda: carol.create_order(SYMBOL, "market", "sell", 1),
    ):
        refused(env, ccxt.ExchangeError, "EOrder:Insufficient liquidity", call)


def test_amends_re_hold_up_release_down_and_pass_the_rules(env: Env) -> None:
    alice, bob, carol = env.ccxt("alice"), env.ccxt("bob"), env.ccxt("carol")
    alice.load_markets()
    start = balances(alice)["TAO"]
    order = alice.create_order(SYMBOL, "limit", "buy", 4, 0.05)
    # A buy holds its notional and the larger fee (20 bps), rounded up.
    assert balances(alice)["TAO"] == (start[0], D("0.2004"))
    # Up: more quantity and a higher price: the difference is held from available.
    alice.edit_order(order["id"], SYMBOL, "limit", "buy", 10, 0.051)
    assert balances(alice)["TAO"] == (start[0], D("0.51102"))
    # Down: the excess is released at once; the order keeps its txid.
    alice.edit_order(order["id"], SYMBOL, "limit", "buy", 2)
    assert balances(alice)["TAO"] == (start[0], D("0.102204"))
    fetched = alice.fetch_order(order["id"])
    assert (fetched["amount"], fetched["price"], fetched["status"]) == (2, 0.051, "open")

    # Every rule of a new order holds for an amend; a refused amend changes nothing.
    oid = order["id"]
    refused(
        env, ccxt.InvalidOrder, "Order minimum not met",
        lambda: alice.edit_order(oid, SYMBOL, "limit", "buy", 0.005),
    )  # fmt: skip
    refused(
        env, ccxt.ExchangeError, "Cost minimum not met",
        lambda: alice.edit_order(oid, SYMBOL, "limit", "buy", 0.1, 0.05),
    )  # fmt: skip
    refused(
        env, ccxt.InvalidOrder, "Invalid arguments:price",
        lambda: alice.edit_order(oid, SYMBOL, "limit", "buy", 2, 0.15),  # 3x the pool price
    )  # fmt: skip
    refused(
        env, ccxt.InsufficientFunds, "Insufficient funds",
        lambda: alice.edit_order(oid, SYMBOL, "limit", "buy", 5000),
    )  # fmt: skip
    ask = bob.create_order(SYMBOL, "limit", "sell", 1, 0.052)
    post = alice.create_order(SYMBOL, "limit", "buy", 1, 0.05, {"postOnly": True})
    refused(
        env, ccxt.ExchangeError, "EOrder:Post only order",
        lambda: alice.edit_order(post["id"], SYMBOL, "limit", "buy", 1, 0.052),
    )  # fmt: skip
    # A market order by quantity must trade the minimum notional at the prices it would
    # fill at (0.1 alpha at 0.052 is 0.0052 TAO).
    refused(
        env, ccxt.ExchangeError, "Cost minimum not met",
        lambda: carol.create_order(SYMBOL, "market", "buy", 0.1),
    )  # fmt: skip
    for ex, oid_ in ((alice, post["id"]), (bob, ask["id"]), (alice, oid)):
        ex.cancel_order(oid_)
    assert balances(alice)["TAO"] == (start[0], D(0))


async def test_an_order_left_off_a_new_tick_can_be_reduced_and_prices_round_onto_ticks(
    env: Env, engine: AsyncEngine
) -> None:
    alice = env.ccxt("alice")
    alice.load_markets()
    resting = alice.create_order(SYMBOL, "limit", "sell", 3, 0.050001)
    await _sql(engine, "UPDATE markets SET tick_size = 10000 WHERE symbol = 'SN1/TAO'")
    try:
        alice.load_markets(reload=True)
        assert alice.markets[SYMBOL]["precision"]["price"] == 0.00001
        # CCXT's rounding lands on the tick, and the server takes what it sends.
        assert alice.price_to_precision(SYMBOL, 0.0500049) == "0.05"
        alice.edit_order(resting["id"], SYMBOL, "limit", "sell", 2)  # off the tick: reduced
        assert alice.fetch_order(resting["id"])["amount"] == 2
        assert balances(alice)["SN1"][1] == D(2)
        with pytest.raises(ccxt.ExchangeError, match="Tick size check failed"):
            alice.private_post_amendorder({"txid": resting["id"], "limit_price": "0.050002"})
    finally:
        await _sql(engine, "UPDATE markets SET tick_size = 1000 WHERE symbol = 'SN1/TAO'")
        alice.load_markets(reload=True)
    alice.cancel_order(resting["id"])


def test_stop_loss_and_take_profit_orders_fire_on_the_last_trade(env: Env) -> None:
    alice, bob, carol = env.ccxt("alice"), env.ccxt("bob"), env.ccxt("carol")
    alice.load_markets()
    start = balances(alice)
    stop = alice.create_order(SYMBOL, "market", "sell", 2, None, {"stopLossPrice": 0.049})
    listed = {o["id"]: o for o in alice.fetch_open_orders(SYMBOL)}
    assert listed[stop["id"]]["status"] == "open"  # untriggered: open, off the book
    assert listed[stop["id"]]["stopLossPrice"] == 0.049
    assert balances(alice)["SN1"] == (start["SN1"][0], D(2))  # held from placement
    assert alice.fetch_order_book(SYMBOL)["asks"] == []
    # An untriggered stop is cancelled like any order: its hold comes back.
    other = alice.create_order(SYMBOL, "market", "sell", 1, None, {"stopLossPrice": 0.04})
    alice.cancel_order(other["id"])
    assert balances(alice)["SN1"] == (start["SN1"][0], D(2))

    bid = bob.create_order(SYMBOL, "limit", "buy", 3, 0.049)
    carol.create_order(SYMBOL, "limit", "sell", 1, 0.049)  # trades at 0.049: the stop fires
    fired = alice.fetch_order(stop["id"])
    assert (fired["status"], fired["filled"], fired["average"]) == ("closed", 2, 0.049)
    assert bob.fetch_order(bid["id"])["status"] == "closed"
    # 2 alpha at 0.049 = 0.098 TAO, less the taker fee (20 bps: 0.000196).
    after = balances(alice)
    assert after["SN1"] == (start["SN1"][0] - 2, D(0))
    assert after["TAO"] == (start["TAO"][0] + D("0.097804"), start["TAO"][1])

    # A take-profit buy (limit) fires when the price falls to its trigger, then rests.
    tp = alice.create_order(SYMBOL, "limit", "buy", 1, 0.0485, {"takeProfitPrice": 0.0485})
    assert balances(alice)["TAO"][1] == D("0.048597")  # 0.0485 and the larger fee, held
    assert alice.fetch_order(tp["id"])["info"]["descr"]["ordertype"] == "take-profit-limit"
    carol.create_order(SYMBOL, "limit", "buy", 1, 0.0485)
    bob.create_order(SYMBOL, "market", "sell", 1)  # trades at 0.0485
    assert alice.fetch_order_book(SYMBOL)["bids"][0][:2] == [0.0485, 1]
    assert alice.fetch_order(tp["id"])["status"] == "open"
    alice.cancel_order(tp["id"])
    assert balances(alice)["TAO"] == (after["TAO"][0], D(0))


def test_a_trailing_stop_follows_the_price(env: Env) -> None:
    alice, bob, carol = env.ccxt("alice"), env.ccxt("bob"), env.ccxt("carol")
    alice.load_markets()

    def trade(price: float) -> None:
        bob.create_order(SYMBOL, "limit", "buy", 1, price)
        carol.create_order(SYMBOL, "market", "sell", 1)

    trade(0.05)
    stop = alice.create_order(SYMBOL, "market", "sell", 1, None, {"trailingAmount": 0.001})
    assert stop["info"]["descr"]["order"] == "sell 1.00000000 SN1TAO @ trailing stop +0.001000000"
    raw = alice.private_post_queryorders({"txid": stop["id"]})["result"][stop["id"]]
    assert raw["descr"]["ordertype"] == "trailing-stop" and raw["stopprice"] == "0.049000000"
    trade(0.052)  # up: the trigger follows, 0.001 below
    raw = alice.private_post_queryorders({"txid": stop["id"]})["result"][stop["id"]]
    assert raw["stopprice"] == "0.051000000" and raw["status"] == "open"
    bob.create_order(SYMBOL, "limit", "buy", 1, 0.0505)
    trade(0.051)  # down to the trigger: it fires, selling into the bid at 0.0505
    fired = alice.fetch_order(stop["id"])
    assert (fired["status"], fired["filled"], fired["average"]) == ("closed", 1, 0.0505)


def test_cancel_orders_in_a_batch(env: Env) -> None:
    alice = env.ccxt("alice")
    ids = [alice.create_order(SYMBOL, "limit", "buy", 1, p)["id"] for p in (0.045, 0.046)]
    alice.cancel_orders(ids)
    assert [alice.fetch_order(i)["status"] for i in ids] == ["canceled", "canceled"]
    assert balances(alice)["TAO"][1] == 0
    with pytest.raises(ccxt.InvalidOrder, match="Unknown order"):
        alice.cancel_orders(ids)


async def test_trading_fees_by_tier(env: Env, engine: AsyncEngine) -> None:
    alice = env.ccxt("alice")
    alice.load_markets()
    fee = alice.fetch_trading_fee(SYMBOL)
    assert (fee["maker"], fee["taker"]) == (0.001, 0.002)
    assert fee["info"]["volume"] != "0.000000000"  # alice has traded
    await _sql(
        engine,
        "INSERT INTO fee_tiers (market_id, min_volume, maker_fee_bps, taker_fee_bps) "
        "VALUES (NULL, 1, 5, 10)",
    )
    try:
        fee = alice.fetch_trading_fee(SYMBOL)
        assert (fee["maker"], fee["taker"]) == (0.0005, 0.001)
        assert fee["info"]["fees"]["SN1TAO"]["maxfee"] == "0.2000"
        assert alice.fetch_trading_fee("SN2/TAO")["taker"] == 0.001  # global tiers
    finally:
        await _sql(engine, "DELETE FROM fee_tiers")


def test_the_dead_mans_switch_fires(env: Env) -> None:
    carol = env.ccxt("carol")
    order = carol.create_order(SYMBOL, "limit", "buy", 1, 0.045)
    armed = carol.cancel_all_orders_after(60_000)["result"]
    assert armed["triggerTime"] != "0"
    assert carol.cancel_all_orders_after(0)["result"]["triggerTime"] == "0"
    assert carol.fetch_order(order["id"])["status"] == "open"
    carol.cancel_all_orders_after(1_000)
    until(lambda: carol.fetch_order(order["id"])["status"] == "canceled")
    assert balances(carol)["TAO"][1] == 0


def test_the_ledger_sums_to_the_balances(env: Env) -> None:
    for who in ("alice", "bob", "carol"):
        ex = env.ccxt(who)
        entries = ex.fetch_ledger()
        assert entries and {e["type"] for e in entries} >= {"trade", "transaction"}
        sums: dict[str, Decimal] = {}
        offset, count = 0, None
        while count is None or offset < count:
            page = ex.private_post_ledgers({"ofs": offset})["result"]
            count = page["count"]
            for entry in page["ledger"].values():
                asset = entry["asset"]
                sums[asset] = sums.get(asset, D(0)) + D(entry["amount"]) - D(entry["fee"])
            offset += len(page["ledger"])
        totals = {a: t for a, (t, _) in balances(ex).items()}
        assert sums == {a: t for a, t in totals.items() if t or a in sums}, who


def test_concurrent_orders_on_one_key_within_the_nonce_window(env: Env) -> None:
    """Twenty requests of one key at once: they reach the server in any order, each nonce
    is accepted once (CCXT counts milliseconds; here each call takes its own microsecond
    nonce, as clients that share a key must)."""
    key = env.keys["bob"]
    nonces = itertools.count(int(time.time() * 1_000_000))

    def place(price: float) -> str:
        ex = ccxt.kraken({"apiKey": key.key, "secret": key.secret, "enableRateLimit": False})
        ex.urls["api"] = {"public": env.url, "private": env.url}
        ex.nonce = lambda: next(nonces)
        ex.load_markets()
        return str(ex.create_order(SYMBOL, "limit", "buy", 1, price)["id"])

    prices = [0.041 + i * 0.0001 for i in range(20)]
    with ThreadPoolExecutor(20) as pool:
        ids = list(pool.map(place, prices))
    bob = env.ccxt("bob")
    assert {o["id"] for o in bob.fetch_open_orders(SYMBOL)} >= set(ids)
    bob.cancel_all_orders()
    assert bob.fetch_open_orders() == []
