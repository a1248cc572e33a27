"""Kraken private methods in process, on the orders fixture's SN1/TAO market."""

from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from app.auth.service import Authenticator
from app.auth.signing import sign
from tests.conftest import SignedFactory
from tests.orders.conftest import Market
from tests.signing import SignedClient, next_nonce


async def kraken(client: httpx.AsyncClient, user: SignedClient, _method: str, **fields: Any) -> Any:
    path = f"/0/private/{_method}"
    nonce = next_nonce()
    body = urlencode({"nonce": nonce, **fields}).encode()
    headers = {
        "API-Key": user.key,
        "API-Sign": sign(user.secret, path, str(nonce), body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    r = await client.post(path, content=body, headers=headers)
    assert r.status_code == 200
    return r.json()


def order(**extra: str) -> dict[str, str]:
    return {"pair": "SN1TAO", "type": "buy", "ordertype": "limit", "volume": "1",
            "price": "0.05", **extra}  # fmt: skip


async def test_time_in_force_and_validate(
    client: httpx.AsyncClient, signed: SignedFactory, market: Market
) -> None:
    user = await market.trader(signed)
    ioc = await kraken(client, user, "AddOrder", **order(timeinforce="IOC"))
    txid = ioc["result"]["txid"][0]
    queried = (await kraken(client, user, "QueryOrders", txid=txid))["result"][txid]
    assert queried["status"] == "canceled" and queried["timeinforce"] == "IOC"

    checked = await kraken(client, user, "AddOrder", **order(validate="true"))
    assert checked == {"error": [], "result": {"descr": {"order": "buy 1.00000000 SN1TAO @ limit 0.05000000"}}}  # fmt: skip
    assert (await kraken(client, user, "OpenOrders"))["result"] == {"open": {}}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"oflags": "viqc"}, "EGeneral:Invalid arguments:viqc"),
        ({"price": "+0.01"}, "EGeneral:Invalid arguments:price"),
        ({"price": "0.0500000001"}, "EGeneral:Invalid arguments:price"),
        ({"volume": "-1"}, "EGeneral:Invalid arguments:volume"),
        ({"ordertype": "trailing-stop-limit"}, "EGeneral:Invalid arguments:ordertype"),
        ({"ordertype": "trailing-stop", "price": "0.001"}, "EGeneral:Invalid arguments:price"),
        ({"ordertype": "stop-loss", "trigger": "index"}, "EGeneral:Invalid arguments:trigger"),
        ({"ordertype": "stop-loss-limit"}, "EGeneral:Invalid arguments:price2"),
        ({"ordertype": "take-profit", "oflags": "post"}, "EGeneral:Invalid arguments:oflags"),
        ({"timeinforce": "GTD"}, "EGeneral:Invalid arguments:timeinforce"),
        ({"oflags": "nope"}, "EGeneral:Invalid arguments:oflags"),
        ({"pair": "SN9TAO"}, "EQuery:Invalid asset pair"),
        ({"price": "0.0500005"}, "EOrder:Tick size check failed"),
        ({"price": "0.5"}, "EGeneral:Invalid arguments:price"),  # outside the price band
        ({"volume": "0.0005"}, "EGeneral:Invalid arguments:volume"),  # off the lot
        ({"volume": "100000"}, "EOrder:Insufficient funds"),
        ({"close[ordertype]": "limit"}, "EGeneral:Invalid arguments:close"),
    ],
)
async def test_add_order_refusals(
    fields: dict[str, str],
    error: str,
    client: httpx.AsyncClient,
    signed: SignedFactory,
    market: Market,
) -> None:
    user = await market.trader(signed)
    assert await kraken(client, user, "AddOrder", **order(**fields)) == {"error": [error]}


@pytest.mark.parametrize(
    ("state", "fields", "error"),
    [
        ("cancel_only", {}, "EService:Market in cancel_only mode"),
        ("halted", {}, "EService:Unavailable"),
        ("post_only", {"ordertype": "market", "price": ""}, "EService:Market in post_only mode"),
        ("delisted", {}, "EQuery:Invalid asset pair"),
    ],
)
async def test_market_states(
    state: str,
    fields: dict[str, str],
    error: str,
    client: httpx.AsyncClient,
    signed: SignedFactory,
    market: Market,
) -> None:
    user = await market.trader(signed)
    await market.set_state(state)
    assert await kraken(client, user, "AddOrder", **order(**fields)) == {"error": [error]}
    pairs = (await client.get("/0/public/AssetPairs")).json()["result"]
    expected = {"cancel_only": "cancel_only", "halted": "maintenance", "post_only": "post_only"}
    if state == "delisted":
        assert pairs == {}
    else:
        assert pairs["SN1TAO"]["status"] == expected[state]


async def test_ledgers_sum_to_the_balances_and_batches_cancel(
    client: httpx.AsyncClient, signed: SignedFactory, market: Market
) -> None:
    from decimal import Decimal

    alice, bob = await market.trader(signed), await market.trader(signed)
    await kraken(client, alice, "AddOrder", **order(type="sell", volume="3"))
    await kraken(client, bob, "AddOrder", **order(volume="2"))
    open_ = (await kraken(client, bob, "AddOrder", **order(volume="1", price="0.049")))["result"]
    for user in (alice, bob):
        answer = await kraken(client, user, "Ledgers")
        assert "result" in answer, answer
        ledger = answer["result"]
        balance = (await kraken(client, user, "Balance"))["result"]
        sums: dict[str, Decimal] = {}
        for entry in ledger["ledger"].values():
            delta = Decimal(entry["amount"]) - Decimal(entry["fee"])
            sums[entry["asset"]] = sums.get(entry["asset"], Decimal(0)) + delta
        assert {a: Decimal(v) for a, v in balance.items()} == sums
        assert ledger["count"] == 4  # two deposits, a trade's two assets
        [trade] = [
            e for e in ledger["ledger"].values() if e["type"] == "trade" and e["asset"] == "TAO"
        ]
        assert trade["refid"].startswith("T")
        some = next(iter(ledger["ledger"]))
        queried = (await kraken(client, user, "QueryLedgers", id=some))["result"]
        assert queried == {some: ledger["ledger"][some]}
    only_trades = (await kraken(client, bob, "Ledgers", type="trade", asset="SN1"))["result"]
    assert only_trades["count"] == 1
    # CancelOrderBatch: unknown ids are skipped, none at all is an unknown order.
    cancelled = await kraken(
        client,
        bob,
        "CancelOrderBatch",
        **{"orders[0]": open_["txid"][0], "orders[1]": "OAAAAA-AAAAA-AAAAAA"},
    )
    assert cancelled == {"error": [], "result": {"count": 1}}
    again = await kraken(client, bob, "CancelOrderBatch", **{"orders[0]": open_["txid"][0]})
    assert again == {"error": ["EOrder:Unknown order"]}
    volume = (await kraken(client, bob, "TradeVolume", pair="SN1TAO"))["result"]
    assert volume["volume"] == "0.100000000" and volume["fees"]["SN1TAO"]["fee"] == "0.2000"
    assert volume["fees_maker"]["SN1TAO"]["fee"] == "0.1000"


@pytest.mark.parametrize(
    ("fields", "first"),
    [
        ({}, None),  # placed: its nonce recorded by the order's group
        ({"volume": "100000"}, "EOrder:Insufficient funds"),  # refused by the sequencer
        ({"ordertype": "stop"}, "EGeneral:Invalid arguments:ordertype"),  # before any group
    ],
)
async def test_add_orders_nonce_is_used_up_whatever_the_answer(
    client: httpx.AsyncClient,
    signed: SignedFactory,
    market: Market,
    app: FastAPI,
    fields: dict[str, str],
    first: str | None,
) -> None:
    """A replay of an AddOrder, even once the server has forgotten its nonces (a restart),
    is `EAPI:Invalid nonce` and places nothing."""
    user = await market.trader(signed)
    path, nonce = "/0/private/AddOrder", next_nonce()
    body = urlencode({"nonce": nonce, **order(**fields)}).encode()
    headers = {
        "API-Key": user.key,
        "API-Sign": sign(user.secret, path, str(nonce), body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    answer = (await client.post(path, content=body, headers=headers)).json()
    assert answer["error"] == ([first] if first else []), answer
    orders = await kraken(client, user, "OpenOrders")
    old: Authenticator = app.state.authenticator  # a restart forgets the nonces seen
    app.state.authenticator = Authenticator(old._engine, old._box, old._limiter)
    replay = (await client.post(path, content=body, headers=headers)).json()
    assert replay == {"error": ["EAPI:Invalid nonce"]}, replay
    assert await kraken(client, user, "OpenOrders") == orders
