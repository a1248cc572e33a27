"""The ledger HTTP API end to end: money moves exactly, bad input writes nothing."""

from typing import Any

import pytest
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


async def test_deposit_withdraw_approve(signed: SignedFactory, assets: None) -> None:
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

    w = await alice.post(
        "/v1/withdrawals",
        json={"asset": "TAO", "amount": "1500000000", "destination": ADDRESS},
    )
    assert w.status_code == 201, w.text
    assert w.json()["state"] == "pending" and w.json()["amount"] == "1500000000"
    b = (await _balances(alice))["TAO"]
    assert (b["available"], b["held"], b["total"]) == ("3500000000", "1500000000", "5000000000")

    wid = w.json()["id"]
    ok = await admin.post(
        f"/v1/admin/withdrawals/{wid}/approve", json={"external_tx_ref": "0xpaid"}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["state"] == "approved" and ok.json()["external_tx_ref"] == "0xpaid"
    b = (await _balances(alice))["TAO"]
    assert (b["available"], b["held"], b["total"]) == ("3500000000", "0", "3500000000")
    # Not pending any more: every transition is refused.
    for path in (f"/v1/admin/withdrawals/{wid}/approve", f"/v1/admin/withdrawals/{wid}/reject"):
        r = await admin.post(path, json={"external_tx_ref": "0xagain"})
        assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    r = await alice.post(f"/v1/withdrawals/{wid}/cancel")
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"

    listed = await alice.get("/v1/withdrawals")
    assert [x["state"] for x in listed.json()["withdrawals"]] == ["approved"]


async def test_reject_and_cancel_return_the_funds(signed: SignedFactory, assets: None) -> None:
    admin = await signed("admin")
    alice = await signed("read,withdraw")
    bob = await signed("read,withdraw")
    await _deposit(admin, alice.user_id, "1000", "ref-1")
    body = {"asset": "TAO", "amount": "400", "destination": ADDRESS}
    w1 = (await alice.post("/v1/withdrawals", json=body)).json()["id"]
    w2 = (await alice.post("/v1/withdrawals", json=body)).json()["id"]
    assert (await _balances(alice))["TAO"]["available"] == "200"
    r = await admin.post(f"/v1/admin/withdrawals/{w1}/reject", json={"reason": "sanctioned"})
    assert r.json()["state"] == "rejected" and r.json()["reason"] == "sanctioned"
    # Only the owner can cancel; to anyone else the withdrawal does not exist.
    r = await bob.post(f"/v1/withdrawals/{w2}/cancel")
    assert r.status_code == 404 and r.json()["code"] == "withdrawal_not_found"
    r = await alice.post(f"/v1/withdrawals/{w2}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    b = (await _balances(alice))["TAO"]
    assert (b["available"], b["held"]) == ("1000", "0")
    r = await admin.post("/v1/admin/withdrawals/999999/approve", json={"external_tx_ref": "x"})
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": "0"}, "non_positive_amount"),
        ({"amount": "-5"}, "non_positive_amount"),
        ({"amount": "1.5"}, "invalid_amount"),
        ({"amount": "12abc"}, "invalid_amount"),
        ({"amount": " 12"}, "invalid_amount"),
        ({"amount": 1.5}, "invalid_amount"),
        ({"amount": str(2**63)}, "amount_too_large"),
        ({"amount": str(10**30)}, "amount_too_large"),
        ({"asset": "NOPE"}, "unknown_asset"),
        ({"asset": "tao"}, "unknown_asset"),
        ({"destination": ADDRESS[:-1] + "Z"}, "invalid_address"),
        ({"destination": "not-an-address"}, "invalid_address"),
        ({"amount": "1000001"}, "insufficient_funds"),
    ],
)
async def test_bad_withdrawals_write_nothing(
    signed: SignedFactory,
    assets: None,
    sessionmaker: async_sessionmaker[AsyncSession],
    body: dict[str, Any],
    code: str,
) -> None:
    admin = await signed("admin")
    alice = await signed("read,withdraw")
    await _deposit(admin, alice.user_id, "1000000", "seed")
    before = await _counts(sessionmaker)
    full = {"asset": "TAO", "amount": "1000", "destination": ADDRESS, **body}
    r = await alice.post("/v1/withdrawals", json=full)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["code"] == code
    assert await _counts(sessionmaker) == before
    b = (await _balances(alice))["TAO"]
    assert (b["available"], b["held"]) == ("1000000", "0")


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
        "/v1/withdrawals", json={"asset": "TAO", "amount": "1", "destination": ADDRESS}
    )
    assert r.status_code == 403
    r = await reader.post(
        "/v1/admin/deposits",
        json={"user_id": reader.user_id, "asset": "TAO", "amount": "1", "external_ref": "x"},
    )
    assert r.status_code == 403


async def test_statement_pages_with_a_cursor(signed: SignedFactory, assets: None) -> None:
    admin = await signed("admin")
    alice = await signed("read,withdraw")
    for i in range(3):
        await _deposit(admin, alice.user_id, str(100 + i), f"dep-{i}")
    await _deposit(admin, alice.user_id, "7", "dep-sn", asset="SN1")
    w = await alice.post(
        "/v1/withdrawals", json={"asset": "TAO", "amount": "50", "destination": ADDRESS}
    )
    assert w.status_code == 201
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
    r = await admin.post(f"/v1/admin/withdrawals/{2**70}/approve", json={"external_tx_ref": "x"})
    assert r.status_code == 422
    r = await admin.post(
        "/v1/admin/deposits",
        json={"user_id": admin.user_id, "asset": "TAO", "amount": True, "external_ref": "x"},
    )
    assert r.status_code == 422
