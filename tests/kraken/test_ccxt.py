"""Acceptance: CCXT's `kraken` class, changed only in its base URL, against a real server
process. The tests of this module share one server and run in order."""

import re
import time

import ccxt
import krakenex
import pytest

from app.kraken.txid import order_txid
from tests.kraken.conftest import HOTKEY, Env, client

pytestmark = pytest.mark.acceptance  # a real server or CLI process: see pyproject.toml

TXID = re.compile(r"^O[A-Z2-7]{5}-[A-Z2-7]{5}-[A-Z2-7]{6}$")
TRADE_ID = re.compile(r"^T[A-Z2-7]{5}-[A-Z2-7]{5}-[A-Z2-7]{6}$")
SYMBOL = "SN1/TAO"


def test_markets_and_currencies(kraken: Env) -> None:
    ex = kraken.ccxt("alice")
    markets = ex.load_markets()
    m = markets[SYMBOL]
    assert m["id"] == "SN1TAO" and m["altname"] == "SN1TAO" and m["wsId"] == "SN1/TAO"
    assert m["base"] == "SN1" and m["quote"] == "TAO" and m["spot"] is True
    assert m["active"] is True
    assert m["precision"] == {"amount": 0.001, "price": 0.000001}
    assert m["limits"]["amount"]["min"] == 0.01
    assert m["limits"]["cost"]["min"] == 0
    assert (m["maker"], m["taker"]) == (0.001, 0.002)
    assert m["info"]["tick_size"] == "0.000001000"
    assert markets["SN2/TAO"]["active"] is False  # cancel_only
    assert markets["SN2/TAO"]["info"]["status"] == "cancel_only"

    currencies = ex.fetch_currencies()
    assert set(currencies) >= {"TAO", "SN1", "SN2"}
    for code in ("TAO", "SN1"):
        assert currencies[code]["active"] is True
        assert currencies[code]["precision"] == 1e-9
        assert currencies[code]["info"]["status"] == "enabled"


def test_status_and_time(kraken: Env) -> None:
    ex = kraken.ccxt("alice")
    assert ex.fetch_status()["status"] == "ok"
    assert abs(ex.fetch_time() - time.time() * 1000) < 5_000


def test_orders_trades_and_market_data(kraken: Env) -> None:
    alice, bob = kraken.ccxt("alice"), kraken.ccxt("bob")

    sell = alice.create_order(SYMBOL, "limit", "sell", 2, 0.05, {"clientOrderId": "alice-1"})
    assert TXID.match(sell["id"]), sell["id"]
    assert sell["side"] == "sell" and sell["amount"] == 2 and sell["price"] == 0.05
    assert sell["info"]["descr"]["order"] == "sell 2.00000000 SN1TAO @ limit 0.05000000"
    fetched = alice.fetch_order(sell["id"])
    assert fetched["status"] == "open" and fetched["clientOrderId"] == "alice-1"
    assert fetched["symbol"] == SYMBOL and fetched["type"] == "limit"
    assert (fetched["amount"], fetched["price"], fetched["filled"]) == (2, 0.05, 0)

    post = alice.create_order(SYMBOL, "limit", "buy", 1, 0.049, {"postOnly": True})
    post = alice.fetch_order(post["id"])
    assert post["postOnly"] is True and post["status"] == "open"

    book = alice.fetch_order_book(SYMBOL)
    assert book["bids"][0][:2] == [0.049, 1] and book["asks"][0][:2] == [0.05, 2]

    assert {o["id"] for o in alice.fetch_open_orders(SYMBOL)} == {sell["id"], post["id"]}

    alice.edit_order(sell["id"], SYMBOL, "limit", "sell", 1.5, 0.051)
    edited = alice.fetch_order(sell["id"])
    assert (edited["amount"], edited["price"], edited["status"]) == (1.5, 0.051, "open")

    buy = bob.create_order(SYMBOL, "market", "buy", 1)
    buy = bob.fetch_order(buy["id"])
    assert buy["status"] == "closed" and buy["filled"] == 1 and buy["average"] == 0.051
    assert len(buy["trades"]) == 1

    mine = bob.fetch_my_trades(SYMBOL)
    assert len(mine) == 1
    t = mine[0]
    assert TRADE_ID.match(t["id"]) and t["order"] == buy["id"]
    assert (t["side"], t["price"], t["amount"], t["symbol"]) == ("buy", 0.051, 1, SYMBOL)
    assert t["takerOrMaker"] == "taker" and t["cost"] == 0.051
    assert alice.fetch_my_trades(SYMBOL)[0]["takerOrMaker"] == "maker"

    trades = bob.fetch_trades(SYMBOL)
    assert [(x["price"], x["amount"], x["side"]) for x in trades] == [(0.051, 1, "buy")]

    ticker = bob.fetch_ticker(SYMBOL)
    assert (ticker["last"], ticker["bid"], ticker["ask"]) == (0.051, 0.049, 0.051)
    assert ticker["baseVolume"] == 1 and ticker["vwap"] == 0.051
    assert ticker["high"] == ticker["low"] == 0.051
    assert SYMBOL in bob.fetch_tickers()

    candles = bob.fetch_ohlcv(SYMBOL, "1m")
    assert candles[-1][1:] == [0.051, 0.051, 0.051, 0.051, 1]

    balance = bob.fetch_balance()
    assert balance["TAO"]["used"] == 0 and balance["SN1"]["used"] == 0
    assert 99.94 < balance["TAO"]["total"] < 99.95  # paid 0.051 plus the taker fee
    assert balance["SN1"]["total"] > 1000.99
    held = alice.fetch_balance()
    # Open orders' holds: what they still need (the edit down to 1.5 released 0.5 at once).
    assert held["SN1"]["used"] == 0.5 and held["TAO"]["used"] > 0.049

    alice.cancel_order(post["id"])
    assert alice.fetch_order(post["id"])["status"] == "canceled"
    closed = {o["id"]: o for o in alice.fetch_closed_orders(SYMBOL)}
    assert closed[post["id"]]["status"] == "canceled"

    alice.cancel_all_orders()
    assert alice.fetch_open_orders() == []
    assert alice.fetch_order(sell["id"])["status"] == "canceled"
    assert alice.fetch_order(sell["id"])["filled"] == 1


def test_market_buy_with_cost_and_validate(kraken: Env) -> None:
    carol, alice = kraken.ccxt("carol"), kraken.ccxt("alice")
    alice.create_order(SYMBOL, "limit", "sell", 10, 0.05)
    order = carol.create_market_buy_order_with_cost(SYMBOL, 0.1)
    order = carol.fetch_order(order["id"])
    assert order["status"] == "closed" and 1.99 < order["filled"] <= 2
    raw = carol.private_post_addorder(
        {"pair": "SN1TAO", "type": "buy", "ordertype": "limit", "volume": "1", "price": "0.04",
         "validate": "true"}
    )  # fmt: skip
    assert raw["result"] == {"descr": {"order": "buy 1.00000000 SN1TAO @ limit 0.04000000"}}
    assert carol.fetch_open_orders() == []
    alice.cancel_all_orders()


def test_errors_arrive_as_ccxt_exceptions(kraken: Env) -> None:
    alice = kraken.ccxt("alice")
    alice.load_markets()
    with pytest.raises(ccxt.InsufficientFunds):
        kraken.ccxt("poor").create_order(SYMBOL, "limit", "buy", 100, 0.05)
    with pytest.raises(ccxt.InvalidOrder, match="Order minimum not met"):
        alice.create_order(SYMBOL, "limit", "buy", 0.005, 0.05)
    with pytest.raises(ccxt.OrderNotFound):
        alice.cancel_order(order_txid(10**12))
    with pytest.raises(ccxt.OrderNotFound):
        alice.fetch_order(order_txid(10**12))
    with pytest.raises(ccxt.OrderNotFound):  # bob's order is not alice's
        bob = kraken.ccxt("bob")
        other = bob.create_order(SYMBOL, "limit", "buy", 1, 0.04)
        alice.cancel_order(other["id"])
    bob.cancel_order(other["id"])
    with pytest.raises(ccxt.BadSymbol):
        alice.public_get_ticker({"pair": "SN99TAO"})
    with pytest.raises(ccxt.BadSymbol):
        alice.private_post_addorder(
            {"pair": "NOPE", "type": "buy", "ordertype": "limit", "volume": "1", "price": "1"}
        )
    resting = alice.create_order(SYMBOL, "limit", "sell", 1, 0.07)
    with pytest.raises(ccxt.ExchangeError, match="EOrder:Post only order"):
        bob.create_order(SYMBOL, "limit", "buy", 1, 0.07, {"postOnly": True})
    alice.cancel_order(resting["id"])
    with pytest.raises(ccxt.PermissionDenied):
        kraken.ccxt("reader").create_order(SYMBOL, "limit", "buy", 1, 0.05)
    with pytest.raises(ccxt.OnMaintenance, match="cancel_only"):
        alice.create_order("SN2/TAO", "limit", "buy", 1, 0.05)
    with pytest.raises(ccxt.InvalidOrder, match="Invalid arguments:volume"):
        alice.private_post_addorder(  # ten decimals
            {"pair": "SN1TAO", "type": "buy", "ordertype": "limit", "volume": "1.0000000001",
             "price": "0.05"}
        )  # fmt: skip
    with pytest.raises(ccxt.ExchangeError, match="Tick size check failed"):
        alice.private_post_addorder(
            {"pair": "SN1TAO", "type": "buy", "ordertype": "limit", "volume": "1",
             "price": "0.0500005"}
        )  # fmt: skip

    stranger = client(kraken.url, "no-such-key", kraken.keys["alice"].secret)
    with pytest.raises(ccxt.AuthenticationError):
        stranger.fetch_balance()

    replayer = kraken.ccxt("nonce")
    replayer.incrementing_nonce = lambda: 1_000  # the same nonce twice
    replayer.fetch_balance()
    with pytest.raises(ccxt.InvalidNonce):
        replayer.fetch_balance()


def test_earn(kraken: Env) -> None:
    alice = kraken.ccxt("alice")
    strategies = alice.private_post_earn_strategies()["result"]["items"]
    sid = f"SN1-{HOTKEY}"
    assert [s["id"] for s in strategies] == [sid]
    assert strategies[0]["asset"] == "SN1" and strategies[0]["can_allocate"] is True
    assert alice.private_post_earn_allocate({"strategy_id": sid, "amount": "5"})["result"] is True
    status = alice.private_post_earn_allocatestatus({"strategy_id": sid})["result"]
    assert status == {"pending": False}
    allocations = alice.private_post_earn_allocations()["result"]
    item = allocations["items"][0]
    assert (
        item["strategy_id"] == sid and item["amount_allocated"]["total"]["native"] == "5.000000000"
    )
    assert alice.private_post_balance()["result"]["SN1.B"] == "5.000000000"
    assert alice.private_post_earn_deallocate({"strategy_id": sid, "amount": "5"})["result"] is True
    assert (
        alice.private_post_earn_allocations({"hide_zero_allocations": "true"})["result"]["items"]
        == []
    )
    with pytest.raises(ccxt.ExchangeError, match="Invalid arguments:strategy_id"):
        alice.private_post_earn_allocate({"strategy_id": "SN1-unknown", "amount": "1"})


def test_krakenex_places_and_cancels(kraken: Env) -> None:
    key = kraken.keys["carol"]
    api = krakenex.API(key.key, key.secret)
    api.uri = kraken.url
    try:
        assert api.query_public("Time")["error"] == []
        placed = api.query_private(
            "AddOrder",
            {"pair": "SN1TAO", "type": "buy", "ordertype": "limit", "volume": "1.5",
             "price": "0.045", "userref": 42},
        )  # fmt: skip
        assert placed["error"] == [], placed
        txid = placed["result"]["txid"][0]
        assert placed["result"]["descr"]["order"] == "buy 1.50000000 SN1TAO @ limit 0.04500000"
        opened = api.query_private("OpenOrders", {"userref": 42})["result"]["open"]
        assert list(opened) == [txid] and opened[txid]["userref"] == 42
        cancelled = api.query_private("CancelOrder", {"txid": txid})
        assert cancelled == {"error": [], "result": {"count": 1, "pending": False}}
        again = api.query_private("CancelOrder", {"txid": txid})
        assert again["error"] == ["EOrder:Unknown order"]
    finally:
        api.close()


def test_raw_private_methods(kraken: Env) -> None:
    """The methods CCXT does not wrap in unified calls, through its raw API."""
    alice, bob = kraken.ccxt("alice"), kraken.ccxt("bob")
    batch = alice.private_post_addorderbatch(
        {
            "pair": "SN1TAO",
            "orders": [
                {"type": "sell", "ordertype": "limit", "volume": "1", "price": "0.06",
                 "cl_ord_id": "batch-a"},
                {"type": "sell", "ordertype": "limit", "volume": "2", "price": "0.061",
                 "oflags": "post"},
            ],
        }
    )["result"]["orders"]  # fmt: skip
    assert [o["descr"]["order"] for o in batch] == [
        "sell 1.00000000 SN1TAO @ limit 0.06000000",
        "sell 2.00000000 SN1TAO @ limit 0.06100000",
    ]
    first, second = (o["txid"] for o in batch)
    queried = alice.private_post_queryorders({"txid": f"{first},{second}"})["result"]
    assert set(queried) == {first, second}
    assert queried[first]["cl_ord_id"] == "batch-a" and queried[second]["oflags"] == "fciq,post"

    amended = alice.private_post_amendorder({"cl_ord_id": "batch-a", "limit_price": "0.059"})
    assert amended["result"]["txid"] == first and amended["result"]["amend_id"]
    edited = alice.private_post_editorder(
        {"txid": second, "pair": "SN1TAO", "volume": "1.5", "price": "0.062"}
    )["result"]
    assert edited["txid"] == edited["originaltxid"] == second
    assert edited["descr"]["order"] == "sell 1.50000000 SN1TAO @ limit 0.06200000"
    depth = alice.public_get_depth({"pair": "SN1TAO", "count": 1})["result"]["SN1TAO"]
    assert [lv[:2] for lv in depth["asks"]] == [["0.059000000", "1.000000000"]]
    spread = alice.public_get_spread({"pair": "SN1TAO"})["result"]["SN1TAO"]
    assert spread[-1][2] == "0.059000000"

    bob.create_order(SYMBOL, "market", "buy", 1)
    history = bob.private_post_tradeshistory()["result"]
    assert history["count"] == 2 and len(history["trades"]) == 2
    closed = bob.private_post_closedorders({"ofs": 1})["result"]
    assert closed["count"] == 3 and len(closed["closed"]) == 2  # two market buys, one cancel

    ex = bob.private_post_balanceex()["result"]
    assert set(ex["TAO"]) == {"balance", "hold_trade"}
    tb = bob.private_post_tradebalance({"asset": "TAO"})["result"]
    assert float(tb["eb"]) > 100  # TAO plus about 1000 alpha at the pool price

    with pytest.raises(ccxt.InvalidOrder, match="Unknown order"):  # batch-a was filled
        alice.private_post_cancelorder({"cl_ord_id": "batch-a"})
    alice.create_order(SYMBOL, "limit", "buy", 1, 0.04, {"clientOrderId": "c-1"})
    cancelled = alice.private_post_cancelorder({"cl_ord_id": "c-1"})["result"]
    assert cancelled == {"count": 1, "pending": False}
    assert alice.private_post_cancelall()["result"]["count"] >= 1
    assert alice.private_post_openorders()["result"]["open"] == {}

    # Kraken's polling: pass `last` back as `since` to get only newer trades.
    first_page = alice.public_get_trades({"pair": "SN1TAO"})["result"]
    assert len(first_page["SN1TAO"]) >= 3
    newer = alice.public_get_trades({"pair": "SN1TAO", "since": first_page["last"]})["result"]
    assert newer["SN1TAO"] == []
    bob.create_order(SYMBOL, "limit", "buy", 1, 0.05)
    alice.create_order(SYMBOL, "market", "sell", 1)
    newer = alice.public_get_trades({"pair": "SN1TAO", "since": first_page["last"]})["result"]
    assert [t[:2] for t in newer["SN1TAO"]] == [["0.050000000", "1.000000000"]]
    assert newer["SN1TAO"][0][3:5] == ["s", "m"] or newer["SN1TAO"][0][3] == "s"
    ohlc = alice.public_get_ohlc({"pair": "SN1TAO", "interval": 5})["result"]
    assert ohlc["SN1TAO"][-1][4] == "0.050000000" and isinstance(ohlc["last"], int)
