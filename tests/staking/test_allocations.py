"""Allocating and deallocating through the API: ledger moves, validation, market states."""

import asyncio

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SignedFactory
from tests.listings.helpers import index
from tests.staking.helpers import (
    ALPHA,
    FOREIGN_HK,
    HK,
    assert_books_balance,
    balance,
    chain_state,
    counts,
    deposit,
    list_market,
)


async def test_allocate_and_deallocate_move_alpha_between_available_and_staked(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    admin = await signed("admin")
    alice = await signed("read,trade")
    market = await list_market(app, admin)
    await deposit(admin, alice.user_id, 100 * ALPHA)

    r = await alice.post(
        "/v1/staking/allocations", {"market": market, "hotkey": HK[0], "amount": str(60 * ALPHA)}
    )
    assert r.status_code == 201, r.text
    assert r.json() == {
        "market": "SN64/TAO",
        "asset": "SN64",
        "netuid": 64,
        "hotkey": HK[0],
        "amount": str(60 * ALPHA),
    }
    r = await alice.post(
        "/v1/staking/allocations", {"market": market, "hotkey": HK[1], "amount": str(10 * ALPHA)}
    )
    assert r.status_code == 201, r.text
    assert await balance(db, alice.user_id, "available") == 30 * ALPHA
    assert await balance(db, alice.user_id, "staked") == 70 * ALPHA

    r = await alice.post(
        "/v1/staking/deallocations", {"market": market, "hotkey": HK[0], "amount": str(20 * ALPHA)}
    )
    assert r.status_code == 200, r.text
    assert r.json()["allocation"]["amount"] == str(40 * ALPHA) and r.json()["unbonding"] is None
    assert await balance(db, alice.user_id, "available") == 50 * ALPHA

    positions = (await alice.get("/v1/staking/positions")).json()
    assert [(p["hotkey"], p["amount"]) for p in positions["allocations"]] == sorted(
        [(HK[0], str(40 * ALPHA)), (HK[1], str(10 * ALPHA))]
    )
    # Deallocate everything that is left with HK[1] (no amount: all of it).
    r = await alice.post("/v1/staking/deallocations", {"market": market, "hotkey": HK[1]})
    assert r.status_code == 200 and r.json()["amount"] == str(10 * ALPHA)
    assert await balance(db, alice.user_id, "staked") == 40 * ALPHA
    await assert_books_balance(app)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"hotkey": "5Unknown", "amount": "1000"}, 404, "validator_not_found"),
        ({"hotkey": FOREIGN_HK, "amount": "1000"}, 400, "validator_wrong_subnet"),
        ({"hotkey": HK[0], "amount": str(101 * ALPHA)}, 400, "insufficient_funds"),
        ({"hotkey": HK[0], "amount": "0"}, 400, "non_positive_amount"),
        ({"hotkey": HK[0], "amount": "-5"}, 400, "non_positive_amount"),
        ({"hotkey": HK[0], "amount": "1.5"}, 400, "invalid_amount"),
        ({"hotkey": HK[0], "amount": "10", "market": "SN99-TAO"}, 404, "market_not_found"),
    ],
)
async def test_bad_allocations_are_refused_and_write_nothing(
    app: FastAPI,
    signed: SignedFactory,
    db: AsyncEngine,
    body: dict[str, str],
    status: int,
    code: str,
) -> None:
    admin = await signed("admin")
    alice = await signed("read,trade")
    market = await list_market(app, admin)
    await deposit(admin, alice.user_id, 100 * ALPHA)
    before = await counts(db)
    r = await alice.post("/v1/staking/allocations", {"market": market, **body})
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert await counts(db) == before
    assert await balance(db, alice.user_id, "available") == 100 * ALPHA


async def test_halted_and_delisted_markets(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    admin = await signed("admin")
    alice = await signed("read,trade")
    market = await list_market(app, admin)
    await deposit(admin, alice.user_id, 100 * ALPHA)
    body = {"market": market, "hotkey": HK[0], "amount": str(30 * ALPHA)}
    assert (await alice.post("/v1/staking/allocations", body)).status_code == 201

    r = await admin.post(f"/v1/admin/markets/{market}/state", {"state": "halted"})
    assert r.status_code == 200, r.text
    before = await counts(db)
    r = await alice.post("/v1/staking/allocations", body)
    assert (r.status_code, r.json()["code"]) == (409, "market_halted")
    assert await counts(db) == before
    # Leaving stays possible on a halted market.
    r = await alice.post(
        "/v1/staking/deallocations", {"market": market, "hotkey": HK[0], "amount": str(ALPHA)}
    )
    assert r.status_code == 200, r.text

    # Delisting releases every allocation to available, in the same transaction.
    r = await admin.post(f"/v1/admin/markets/{market}/state", {"state": "delisted"})
    assert r.status_code == 200, r.text
    assert await balance(db, alice.user_id, "staked") == 0
    assert await balance(db, alice.user_id, "available") == 100 * ALPHA
    assert (await alice.get("/v1/staking/positions")).json()["allocations"] == []
    r = await alice.post("/v1/staking/allocations", body)
    assert (r.status_code, r.json()["code"]) == (409, "market_delisted")
    await assert_books_balance(app)


async def test_deallocation_errors(app: FastAPI, signed: SignedFactory, db: AsyncEngine) -> None:
    admin = await signed("admin")
    alice = await signed("read,trade")
    market = await list_market(app, admin)
    await deposit(admin, alice.user_id, 100 * ALPHA)
    r = await alice.post("/v1/staking/deallocations", {"market": market, "hotkey": HK[0]})
    assert (r.status_code, r.json()["code"]) == (404, "allocation_not_found")
    body = {"market": market, "hotkey": HK[0], "amount": str(5 * ALPHA)}
    assert (await alice.post("/v1/staking/allocations", body)).status_code == 201
    before = await counts(db)
    r = await alice.post("/v1/staking/deallocations", {**body, "amount": str(6 * ALPHA)})
    assert (r.status_code, r.json()["code"]) == (400, "allocation_exceeded")
    assert await counts(db) == before
    # A read-only key cannot allocate.
    reader = await signed("read")
    r = await reader.post("/v1/staking/allocations", body)
    assert r.status_code == 403


async def test_unbonding_period_keeps_alpha_staked_until_released(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    admin = await signed("admin")
    alice = await signed("read,trade")
    market = await list_market(app, admin)
    r = await admin.client.put(
        "/v1/admin/staking/settings/SN64-TAO", json={"unbonding_blocks": 3}
    )  # unsigned: refused
    assert r.status_code == 401
    r = await admin.post(
        f"/v1/admin/staking/settings/{market}", {"unbonding_blocks": 3}, method="PUT"
    )
    assert r.status_code == 200 and r.json()["unbonding_blocks"] == 3, r.text
    assert r.json()["commission_bps"] == 1000
    r = await admin.post(
        f"/v1/admin/staking/settings/{market}", {"commission_bps": 10_001}, method="PUT"
    )
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    assert r.json()["errors"][0]["field"] == "commission_bps"
    for bad in (" 5", "+5", "05", True, 5.0, -1):  # canonical and within range only
        r = await admin.post(
            f"/v1/admin/staking/settings/{market}", {"commission_bps": bad}, method="PUT"
        )
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), bad

    await deposit(admin, alice.user_id, 10 * ALPHA)
    body = {"market": market, "hotkey": HK[0], "amount": str(10 * ALPHA)}
    assert (await alice.post("/v1/staking/allocations", body)).status_code == 201
    r = await alice.post("/v1/staking/deallocations", {**body, "amount": str(4 * ALPHA)})
    assert r.status_code == 200, r.text
    unbonding = r.json()["unbonding"]
    assert unbonding["release_block"] == 60_003 and unbonding["state"] == "pending"
    assert await balance(db, alice.user_id, "staked") == 10 * ALPHA
    assert await balance(db, alice.user_id, "available") == 0
    await assert_books_balance(app)  # staked == allocations + pending unbondings

    await index(app, chain_state(60_002))
    assert await balance(db, alice.user_id, "available") == 0
    await index(app, chain_state(60_003))
    assert await balance(db, alice.user_id, "available") == 4 * ALPHA
    assert await balance(db, alice.user_id, "staked") == 6 * ALPHA
    assert (await alice.get("/v1/staking/positions")).json()["unbonding"] == []
    await assert_books_balance(app)


async def test_concurrent_allocations_never_overspend(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    admin = await signed("admin")
    alice = await signed("read,trade")
    market = await list_market(app, admin)
    await deposit(admin, alice.user_id, 10 * ALPHA)

    # One key per request: nonces of concurrent requests on one key may arrive out of order.
    keys = [await signed("read,trade", email="user2@example.com") for _ in range(8)]
    assert {k.user_id for k in keys} == {alice.user_id}

    async def allocate(i: int) -> int:
        body = {"market": market, "hotkey": HK[i % 3], "amount": str(3 * ALPHA)}
        return (await keys[i].post("/v1/staking/allocations", body)).status_code

    statuses = await asyncio.gather(*(allocate(i) for i in range(8)))
    assert sorted(statuses) == [201] * 3 + [400] * 5
    assert await balance(db, alice.user_id, "staked") == 9 * ALPHA
    assert await balance(db, alice.user_id, "available") == ALPHA
    await assert_books_balance(app)


async def test_a_move_re_delegates_without_unbonding_and_keeps_the_alpha_staked(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    admin = await signed("admin")
    alice = await signed("read,trade")
    market = await list_market(app, admin)
    await deposit(admin, alice.user_id, 100 * ALPHA)
    r = await admin.put(f"/v1/admin/staking/settings/{market}", {"unbonding_blocks": 100})
    assert r.status_code == 200, r.text
    r = await alice.post(
        "/v1/staking/allocations", {"market": market, "hotkey": HK[0], "amount": str(60 * ALPHA)}
    )
    assert r.status_code == 201, r.text
    before = await counts(db)

    refused = [
        ({"from_hotkey": HK[0], "to_hotkey": HK[0]}, 400, "invalid_hotkey"),
        ({"from_hotkey": HK[1], "to_hotkey": HK[0]}, 404, "allocation_not_found"),
        ({"from_hotkey": HK[0], "to_hotkey": "5Unknown"}, 404, "validator_not_found"),
        ({"from_hotkey": HK[0], "to_hotkey": FOREIGN_HK}, 400, "validator_wrong_subnet"),
        (
            {"from_hotkey": HK[0], "to_hotkey": HK[1], "amount": str(61 * ALPHA)},
            400,
            "allocation_exceeded",
        ),
        ({"from_hotkey": HK[0], "to_hotkey": HK[1], "amount": "0"}, 400, "non_positive_amount"),
    ]
    for body, status, code in refused:
        r = await alice.post("/v1/staking/moves", {"market": market, **body})
        assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
    assert await counts(db) == before  # nothing written

    r = await alice.post(
        "/v1/staking/moves",
        {"market": market, "from_hotkey": HK[0], "to_hotkey": HK[1], "amount": str(25 * ALPHA)},
    )
    assert r.status_code == 200, r.text
    assert r.json()["amount"] == str(25 * ALPHA)
    assert (r.json()["origin"]["amount"], r.json()["destination"]["amount"]) == (
        str(35 * ALPHA),
        str(25 * ALPHA),
    )
    # The rest, without an amount: all of it.
    r = await alice.post(
        "/v1/staking/moves", {"market": market, "from_hotkey": HK[0], "to_hotkey": HK[1]}
    )
    assert r.status_code == 200 and r.json()["amount"] == str(35 * ALPHA), r.text
    positions = (await alice.get("/v1/staking/positions")).json()
    assert [(p["hotkey"], p["amount"]) for p in positions["allocations"]] == [
        (HK[1], str(60 * ALPHA))
    ]
    assert positions["unbonding"] == []  # a move does not unbond
    assert await balance(db, alice.user_id, "staked") == 60 * ALPHA
    assert await balance(db, alice.user_id, "available") == 40 * ALPHA
    await assert_books_balance(app)
