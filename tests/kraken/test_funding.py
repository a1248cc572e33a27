"""Kraken's funding methods in process: methods, keys, WithdrawInfo, and Withdraw's refusals
(Kraken's error strings, nothing held)."""

from dataclasses import replace

import httpx
import pytest
from fastapi import FastAPI

from app.kit.ss58 import ss58_decode, ss58_encode
from tests.conftest import SignedFactory
from tests.kraken.test_private import kraken
from tests.orders.conftest import Market, balances

ADDRESS = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
TAO = 10**9


async def test_methods_keys_info_and_status(
    client: httpx.AsyncClient, signed: SignedFactory, market: Market, app: FastAPI
) -> None:
    user = await market.trader(signed)
    methods = (await kraken(client, user, "DepositMethods", asset="SN1"))["result"]
    assert methods == [{"method": "Bittensor", "limit": False, "fee": "0.000000000",
                        "gen-address": True, "minimum": "0.001000000", "network": "Bittensor"}]  # fmt: skip
    first = (await kraken(client, user, "DepositAddresses", asset="TAO", method="Bittensor"))[
        "result"
    ]
    assert len(first) == 1 and first[0]["new"] is True
    again = (await kraken(client, user, "DepositAddresses", asset="SN1", method="Bittensor"))[
        "result"
    ]
    assert [a["address"] for a in again] == [first[0]["address"]] and again[0]["new"] is False
    newer = (await kraken(client, user, "DepositAddresses", asset="TAO", new="true"))["result"]
    assert (
        len(newer) == 2 and newer[0]["new"] is True and newer[1]["address"] == first[0]["address"]
    )

    app.state.custody_policy = replace(app.state.custody_policy, lock_seconds=3600)
    r = await user.post("/v1/withdrawal-addresses", {"name": "cold", "address": ADDRESS})
    assert r.status_code == 201, r.text
    keys = (await kraken(client, user, "WithdrawAddresses", asset="TAO"))["result"]
    assert keys == [{"address": ADDRESS, "asset": "TAO", "method": "Bittensor", "key": "cold", "verified": False}]  # fmt: skip
    locked = await kraken(client, user, "Withdraw", asset="TAO", key="cold", amount="1")
    assert locked["error"] == ["EFunding:Withdraw key not verified"]

    app.state.custody_policy = replace(app.state.custody_policy, lock_seconds=0)
    await user.post("/v1/withdrawal-addresses", {"name": "open", "address": ADDRESS})
    info = (await kraken(client, user, "WithdrawInfo", asset="TAO", key="open", amount="2"))[
        "result"
    ]
    assert info == {"method": "Bittensor", "limit": "99.999000000", "amount": "2.000000000", "fee": "0.001000000"}  # fmt: skip
    methods = (await kraken(client, user, "WithdrawMethods"))["result"]
    assert [m["asset"] for m in methods] == ["TAO", "SN1"]

    sent = await kraken(
        client, user, "Withdraw", asset="TAO", key="open", amount="2", address=ADDRESS
    )
    refid = sent["result"]["refid"]
    assert refid.startswith("W")
    status = (await kraken(client, user, "WithdrawStatus", asset="TAO"))["result"]
    assert [(w["refid"], w["status"], w["amount"], w["key"]) for w in status] == [
        (refid, "Initial", "2.000000000", "open")
    ]
    assert (await kraken(client, user, "WithdrawCancel", asset="TAO", refid=refid))[
        "result"
    ] is True
    status = (await kraken(client, user, "WithdrawStatus", cursor="true"))["result"]
    assert status["withdrawals"][0]["status-prop"] == "canceled" and status["next_cursor"] is None
    again = await kraken(client, user, "WithdrawCancel", asset="TAO", refid=refid)
    assert again["error"] == ["EGeneral:Invalid arguments"]
    unknown = await kraken(client, user, "WithdrawCancel", asset="TAO", refid="WAAAAA-AAAAA-AAAAAA")
    assert unknown["error"] == ["EFunding:Unknown reference id"]
    assert (await kraken(client, user, "DepositStatus", asset="TAO"))["result"] == []


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"key": "nobody"}, "EFunding:Unknown withdraw key"),
        ({"amount": "0.0001"}, "EFunding:Invalid amount"),  # below the minimum
        ({"amount": "100"}, "EFunding:Insufficient funds"),  # + the fee reserve
        ({"amount": "1e3"}, "EGeneral:Invalid arguments:amount"),
        ({"asset": "SN9"}, "EQuery:Unknown asset"),
        (
            {"address": ss58_encode(ss58_decode(ADDRESS)[1], 0)},
            "EGeneral:Invalid arguments:address",
        ),
        ({"max_fee": "0.0001"}, "EFunding:Max fee exceeded"),
    ],
)
async def test_bad_withdrawals_are_refused_and_hold_nothing(
    client: httpx.AsyncClient,
    signed: SignedFactory,
    market: Market,
    fields: dict[str, str],
    error: str,
) -> None:
    user = await market.trader(signed)
    await user.post("/v1/withdrawal-addresses", {"name": "cold", "address": ADDRESS})
    before = await balances(user)
    got = await kraken(
        client, user, "Withdraw", **{"asset": "TAO", "key": "cold", "amount": "1", **fields}
    )
    assert got["error"] == [error]
    assert await balances(user) == before
    assert (await kraken(client, user, "WithdrawStatus"))["result"] == []
