"""The ledger HTTP API end to end: money moves exactly, bad input writes nothing."""

from dataclasses import replace
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import SignedFactory
from tests.ledger.conftest import count
from tests.signing import SignedClient

ADDRESS = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
TAO = 10**9


async def _deposit(admin: SignedClient, user_id: int, amount: str, ref: str, asset: str = "TAO"):
    return await admin.post(
        "/v1/admin/deposits",
        json={"user_id": user_id, "asset": asset, "amount": amount, "external_ref": ref},
    )


async def _balances(client: SignedClient) -> dict[str, dict[str, Any]]:
    r = await client.get("/v1/balances")
    assert r.status_code == 200, r.text
    return {b["asset"]: b for b in r.json()["balances"]}


async def _counts(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[int, ...]:
    async with sessionmaker() as s:
        return tuple(
            [
                await count(s, t)
                for t in ("ledger_transfers", "ledger_holds", "withdrawals", "deposits")
            ]
        )


async def test_admin_deposits_are_idempotent_and_audited(
    signed: SignedFactory, assets: None
) -> None:
    admin = await signed("admin")
    alice = await signed("read,withdraw")
    r = await _deposit(admin, alice.user_id, str(5 * TAO), "0xabc")
    assert r.status_code == 201, r.text
    assert r.json()["amount"] == str(5 * TAO)
    # Idempotent on the external reference.
    again = await _deposit(admin, alice.user_id, str(5 * TAO), "0xabc")
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    conflict = await _deposit(admin, alice.user_id, str(6 * TAO), "0xabc")
    assert conflict.status_code == 409 and conflict.json()["code"] == "deposit_conflict"
    assert (await _balances(alice))["TAO"] == {
        "asset": "TAO",
        "decimals": 9,
        "available": "5000000000",
        "held": "0",
        "staked": "0",
        "total": "5000000000",
    }
    audit = (await admin.get("/v1/admin/audit", {"action": "deposit.admin"})).json()["entries"]
    assert len(audit) == 1 and audit[0]["after"]["amount"] == str(5 * TAO)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": "0"}, 400, "non_positive_amount"),
        ({"amount": "abc"}, 400, "invalid_amount"),
        ({"amount": str(2**63)}, 400, "amount_too_large"),
        ({"asset": "SN999"}, 400, "unknown_asset"),
        ({"user_id": 987654}, 404, "user_not_found"),
    ],
)
async def test_bad_deposits_write_nothing(
    signed: SignedFactory,
    assets: None,
    sessionmaker: async_sessionmaker[AsyncSession],
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    admin = await signed("admin")
    alice = await signed("read")
    before = await _counts(sessionmaker)
    full = {"user_id": alice.user_id, "asset": "TAO", "amount": "10", "external_ref": "r"}
    r = await admin.post("/v1/admin/deposits", json={**full, **body})
    assert (r.status_code, r.json()["code"]) == (status, code)
    assert await _counts(sessionmaker) == before


async def test_scopes(signed: SignedFactory, assets: None) -> None:
    reader = await signed("read")
    r = await reader.post(
        "/v1/withdrawals",
        json={"asset": "TAO", "amount": "1", "address_name": "a", "idempotency_key": "k"},
    )
    assert r.status_code == 403
    r = await reader.post(
        "/v1/admin/deposits",
        json={"user_id": reader.user_id, "asset": "TAO", "amount": "1", "external_ref": "x"},
    )
    assert r.status_code == 403


async def test_statement_pages_with_a_cursor(
    signed: SignedFactory, assets: None, app: FastAPI
) -> None:
    app.state.custody_policy = replace(
        app.state.custody_policy, tao_fee_reserve=0, min_withdrawal_default=1
    )
    admin = await signed("admin")
    alice = await signed("read,withdraw")
    for i in range(3):
        await _deposit(admin, alice.user_id, str(100 + i), f"dep-{i}")
    await _deposit(admin, alice.user_id, "7", "dep-sn", asset="SN1")
    r = await alice.post("/v1/withdrawal-addresses", json={"name": "mine", "address": ADDRESS})
    assert r.status_code == 201, r.text
    w = await alice.post(
        "/v1/withdrawals",
        json={"asset": "TAO", "amount": "50", "address_name": "mine", "idempotency_key": "w1"},
    )
    assert w.status_code == 201, w.text
    # TAO: 3 deposits + the hold (two entries: available -, held +) = 5 entries.
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"asset": "TAO", "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await alice.get("/v1/ledger/entries", params=params)
        assert r.status_code == 200, r.text
        seen += r.json()["entries"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert [(e["account"], e["amount"], e["code"]) for e in seen] == [
        ("available", "100", "deposit"),
        ("available", "101", "deposit"),
        ("available", "102", "deposit"),
        ("available", "-50", "hold"),
        ("held", "50", "hold"),
    ]
    everything = (await alice.get("/v1/ledger/entries")).json()["entries"]
    assert len(everything) == 6 and sum(int(e["amount"]) for e in everything) == 310
    r = await alice.get("/v1/ledger/entries", params={"cursor": "garbage"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"
    r = await alice.get("/v1/ledger/entries", params={"to": "2000-01-01T00:00:00Z"})
    assert r.json()["entries"] == []
    r = await alice.get("/v1/ledger/entries", params={"from": "2000-01-01T00:00:00"})
    assert r.status_code == 200 and len(r.json()["entries"]) == 6


async def test_out_of_range_ids_are_4xx(signed: SignedFactory, assets: None) -> None:
    admin = await signed("admin")
    r = await admin.post(
        "/v1/admin/deposits",
        json={"user_id": 2**70, "asset": "TAO", "amount": "1", "external_ref": "x"},
    )
    assert r.status_code == 422
    r = await admin.post(f"/v1/admin/custody/withdrawals/{2**70}/approve", json={})
    assert r.status_code == 422
    r = await admin.post(
        "/v1/admin/deposits",
        json={"user_id": admin.user_id, "asset": "TAO", "amount": True, "external_ref": "x"},
    )
    assert r.status_code == 422
