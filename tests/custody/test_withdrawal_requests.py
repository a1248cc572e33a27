"""Withdrawal requests before the signer: the address book, holds, idempotency, approval,
and bad input (a clear 4xx and nothing held)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.custody.keys import CustodySigner
from app.kit.ss58 import ss58_decode, ss58_encode
from tests.conftest import SignedFactory
from tests.orders.conftest import balances, ledger_ok
from tests.signing import SignedClient

ADDRESS = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"  # //Alice
POLKADOT_ALICE = ss58_encode(ss58_decode(ADDRESS)[1], 0)  # the same key, network prefix 0
TAO = 10**9
RESERVE = 1_000_000  # the default TAO fee reserve


async def funded(signed: SignedFactory, admin: SignedClient, tao: int = 10 * TAO) -> SignedClient:
    user = await signed("read,withdraw")
    r = await admin.post(
        "/v1/admin/deposits",
        {
            "user_id": user.user_id,
            "asset": "TAO",
            "amount": str(tao),
            "external_ref": f"f{user.user_id}",
        },
    )
    assert r.status_code == 201, r.text
    return user


def body(**fields: Any) -> dict[str, Any]:
    return {
        "asset": "TAO",
        "amount": str(TAO),
        "address_name": "cold",
        "idempotency_key": "k1",
        **fields,
    }


async def counts(db: AsyncEngine) -> tuple[int, ...]:
    tables = ("withdrawals", "ledger_holds", "ledger_transfers", "withdrawal_addresses")
    async with db.connect() as conn:
        return tuple(
            [int(await conn.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in tables]
        )


async def test_withdrawal_holds_and_is_idempotent(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    admin = await signed("admin")
    user = await funded(signed, admin)
    r = await user.post("/v1/withdrawal-addresses", {"name": "cold", "address": ADDRESS})
    assert r.status_code == 201 and r.json()["locked"] is False, r.text
    r = await user.post("/v1/withdrawal-addresses", {"name": "cold", "address": ADDRESS})
    assert (r.status_code, r.json()["code"]) == (409, "withdrawal_address_exists")

    first = await user.post("/v1/withdrawals", body())
    assert first.status_code == 201, first.text
    w = first.json()
    assert (w["state"], w["amount"], w["fee_reserve"]) == ("queued", str(TAO), str(RESERVE))
    assert w["destination"] == ADDRESS and w["address_name"] == "cold"
    b = (await balances(user))["TAO"]
    assert (b["available"], b["held"]) == (9 * TAO - RESERVE, TAO + RESERVE)

    # A retry after a lost answer: the same withdrawal, nothing new held.
    before = await counts(db)
    again = await user.post("/v1/withdrawals", body())
    assert again.status_code == 200 and again.json()["id"] == w["id"]
    assert await counts(db) == before
    other = await user.post("/v1/withdrawals", body(amount=str(2 * TAO)))
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_conflict")

    # The owner cancels while it is queued: everything returns.
    r = await user.post(f"/v1/withdrawals/{w['id']}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    b = (await balances(user))["TAO"]
    assert (b["available"], b["held"]) == (10 * TAO, 0)
    r = await user.post(f"/v1/withdrawals/{w['id']}/cancel")
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")
    await ledger_ok(db)


async def test_large_withdrawals_wait_for_an_admin(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    app.state.custody_policy = replace(app.state.custody_policy, approval_threshold={"TAO": TAO})
    admin = await signed("read,admin")
    user = await funded(signed, admin)
    await user.post("/v1/withdrawal-addresses", {"name": "cold", "address": ADDRESS})
    small = (await user.post("/v1/withdrawals", body(idempotency_key="s"))).json()
    large = (await user.post("/v1/withdrawals", body(amount=str(3 * TAO)))).json()
    assert (small["state"], large["state"]) == ("queued", "pending_approval")
    pending = (
        await admin.get("/v1/admin/custody/withdrawals", {"state": "pending_approval"})
    ).json()
    assert [x["id"] for x in pending["withdrawals"]] == [large["id"]]
    r = await admin.post(f"/v1/admin/custody/withdrawals/{large['id']}/approve", {})
    assert r.status_code == 200 and r.json()["state"] == "queued"
    r = await admin.post(f"/v1/admin/custody/withdrawals/{large['id']}/approve", {})
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")
    r = await admin.post(f"/v1/admin/custody/withdrawals/{small['id']}/reject", {"reason": "aml"})
    assert r.json()["state"] == "rejected" and r.json()["reason"] == "aml"
    audit = (await admin.get("/v1/admin/audit")).json()["entries"]
    assert {e["action"] for e in audit} >= {"withdrawal.approve", "withdrawal.reject"}
    b = (await balances(user))["TAO"]
    assert b["held"] == 3 * TAO + RESERVE
    await ledger_ok(db)


async def test_a_new_address_is_locked_for_the_delay(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    app.state.custody_policy = replace(app.state.custody_policy, lock_seconds=3600)
    admin = await signed("admin")
    user = await funded(signed, admin)
    r = await user.post("/v1/withdrawal-addresses", {"name": "cold", "address": ADDRESS})
    assert r.json()["locked"] is True
    unlocks = datetime.fromisoformat(r.json()["unlocks_at"])
    assert unlocks > datetime.now(UTC) + timedelta(minutes=59)
    before = await counts(db)
    r = await user.post("/v1/withdrawals", body())
    assert (r.status_code, r.json()["code"]) == (409, "withdrawal_address_locked")
    assert await counts(db) == before
    assert (await balances(user))["TAO"]["held"] == 0


@pytest.mark.parametrize(
    ("address", "code"),
    [
        (ADDRESS[:-1] + ("Z" if ADDRESS[-1] != "Z" else "Y"), "invalid_address"),  # checksum
        ("not-an-address", "invalid_address"),
        (POLKADOT_ALICE, "invalid_address"),  # another network's prefix
        (CustodySigner("//Exchange").keys.omnibus, "exchange_address"),
    ],
)
async def test_bad_addresses_are_refused(
    signed: SignedFactory, db: AsyncEngine, address: str, code: str
) -> None:
    user = await signed("read,withdraw")
    before = await counts(db)
    r = await user.post("/v1/withdrawal-addresses", {"name": "x", "address": address})
    assert (r.status_code, r.json()["code"]) == (400, code), r.text
    assert await counts(db) == before


async def test_network_prefix_is_named(signed: SignedFactory) -> None:
    user = await signed("read,withdraw")
    r = await user.post("/v1/withdrawal-addresses", {"name": "x", "address": POLKADOT_ALICE})
    assert "prefix 0" in r.json()["message"]


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"address_name": "nobody"}, 404, "withdrawal_address_not_found"),
        ({"amount": "999999"}, 400, "amount_below_minimum"),
        ({"amount": str(10 * TAO)}, 400, "insufficient_funds"),  # + the fee reserve
        ({"amount": str(11 * TAO)}, 400, "insufficient_funds"),
        ({"amount": "0"}, 400, "non_positive_amount"),
        ({"amount": "1.5"}, 400, "invalid_amount"),
        ({"asset": "NOPE"}, 400, "unknown_asset"),
        ({"address_name": "has space"}, 422, "validation_error"),
        ({"idempotency_key": ""}, 422, "validation_error"),
    ],
)
async def test_bad_withdrawals_hold_nothing(
    signed: SignedFactory, db: AsyncEngine, fields: dict[str, Any], status: int, code: str
) -> None:
    admin = await signed("admin")
    user = await funded(signed, admin)
    await user.post("/v1/withdrawal-addresses", {"name": "cold", "address": ADDRESS})
    before = await counts(db)
    r = await user.post("/v1/withdrawals", body(**fields))
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert await counts(db) == before
    b = (await balances(user))["TAO"]
    assert (b["available"], b["held"]) == (10 * TAO, 0)
