"""The listing workflow end to end through the admin API."""

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.models import Asset, AuditEntry, Listing, Market
from tests.conftest import SignedFactory
from tests.indexer.snapshots import snapshot, subnet
from tests.listings.helpers import index, until_state

OLD = 1  # registered at block 1: old enough by the time we index block 60_000
DEEP = 50_000 * 10**9


async def _counts(db: AsyncEngine) -> tuple[int, int, int, int]:
    async with db.connect() as conn:
        counts = [
            int(await conn.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Asset, Market, AuditEntry, Listing)
        ]
        return counts[0], counts[1], counts[2], counts[3]


async def _candidate_id(admin, netuid: int) -> int:  # type: ignore[no-untyped-def]
    listings = (await admin.get("/v1/admin/listings", {"state": "candidate"})).json()
    return next(item["id"] for item in listings if item["netuid"] == netuid)


async def test_discover_approve_halt_resume_delist(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    admin = await signed("admin")
    await index(
        app, snapshot(60_000, [subnet(64, registered_at=OLD, tao_in=DEEP, alpha_in=10**15)])
    )

    listing = (await admin.get("/v1/admin/listings", {"state": "candidate"})).json()
    assert len(listing) == 1
    dd = listing[0]["due_diligence"]
    assert dd["age_blocks"] == 59_999 and dd["age_days"] == 8.33
    assert dd["pool_tao"] == "50000000000000" and dd["flags"] == []
    assert "github_repo" in dd["identity_present"] and "discord" in dd["identity_missing"]

    r = await admin.post(f"/v1/admin/listings/{listing[0]['id']}/approve", {"maker_fee_bps": 5})
    assert r.status_code == 200, r.text
    market = r.json()["market"]
    assert market["symbol"] == "SN64/TAO" and market["state"] == "trading"
    assert market["maker_fee_bps"] == 5 and market["taker_fee_bps"] == 20
    assert market["reference_price"] == "50000000"  # rao per alpha: 50000 TAO / 10^6 alpha
    assert market["tick_size"] == "1000"  # 5 significant digits at 0.05 TAO

    assets = (await admin.get("/v1/assets")).json()
    assert [(a["code"], a["netuid"]) for a in assets] == [("SN64", 64), ("TAO", None)]
    public = (await admin.client.get("/v1/markets/SN64-TAO")).json()
    assert public["state"] == "trading"

    for state in ("halted", "trading", "cancel_only", "post_only", "delisted"):
        r = await admin.post("/v1/admin/markets/SN64TAO/state", {"state": state, "reason": "test"})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == state
    r = await admin.post("/v1/admin/markets/SN64TAO/state", {"state": "trading"})
    assert r.status_code == 409 and r.json()["code"] == "invalid_market_transition"

    audit = (await admin.get("/v1/admin/audit")).json()["entries"]
    assert [e["action"] for e in audit] == ["market.state"] * 5 + ["listing.approve"]
    assert audit[0]["before"]["state"] == "post_only" and audit[0]["after"]["state"] == "delisted"
    assert audit[-1]["actor_user_id"] == admin.user_id


async def test_reject_reconsider_approve(app: FastAPI, signed: SignedFactory) -> None:
    admin = await signed("admin")
    await index(app, snapshot(60_000, [subnet(7, registered_at=OLD, tao_in=DEEP)]))
    lid = await _candidate_id(admin, 7)
    r = await admin.post(f"/v1/admin/listings/{lid}/reject", {"reason": "no identity"})
    assert (
        r.status_code == 200
        and r.json()["state"] == "rejected"
        and r.json()["reason"] == "no identity"
    )
    r = await admin.post(f"/v1/admin/listings/{lid}/approve", {})
    assert r.status_code == 409 and r.json()["code"] == "listing_not_pending"
    r = await admin.post(f"/v1/admin/listings/{lid}/reconsider", {"reason": "identity added"})
    assert r.status_code == 200 and r.json()["state"] == "candidate"
    r = await admin.post(f"/v1/admin/listings/{lid}/approve", {"ticker": "ALPHA7"})
    assert r.status_code == 200, r.text
    assert r.json()["market"]["symbol"] == "ALPHA7/TAO"
    actions = [e["action"] for e in (await admin.get("/v1/admin/audit")).json()["entries"]]
    assert actions == ["listing.approve", "listing.reconsider", "listing.reject"]


async def test_netuid_reuse_halts_the_market_and_adds_a_candidate(
    app: FastAPI, signed: SignedFactory
) -> None:
    admin = await signed("admin")
    await index(app, snapshot(60_000, [subnet(9, registered_at=OLD, tao_in=DEEP)]))
    lid = await _candidate_id(admin, 9)
    assert (await admin.post(f"/v1/admin/listings/{lid}/approve", {})).status_code == 200

    await index(app, snapshot(60_100, [subnet(9, registered_at=60_050, tao_in=DEEP)]))
    await until_state(admin.client, "SN9-TAO", "halted")
    candidates = (await admin.get("/v1/admin/listings", {"state": "candidate"})).json()
    assert [(c["netuid"], c["subnet"]["registered_at_block"]) for c in candidates] == [(9, 60_050)]
    # The retired token's market cannot resume; it can only be delisted.
    r = await admin.post("/v1/admin/markets/SN9-TAO/state", {"state": "trading"})
    assert r.status_code == 409 and r.json()["code"] == "subnet_retired"
    # The new token cannot take the old ticker.
    r = await admin.post(
        f"/v1/admin/listings/{candidates[0]['id']}/approve",
        {"override_reason": "young", "ticker": "SN9"},
    )
    assert r.status_code == 409 and r.json()["code"] == "ticker_taken"
    auto = (await admin.get("/v1/admin/audit", {"action": "market.state.auto"})).json()["entries"]
    assert len(auto) == 1 and auto[0]["actor_user_id"] is None


async def test_a_retired_candidate_cannot_be_approved(app: FastAPI, signed: SignedFactory) -> None:
    admin = await signed("admin")
    await index(app, snapshot(60_000, [subnet(3, registered_at=OLD, tao_in=DEEP)]))
    lid = await _candidate_id(admin, 3)
    await index(app, snapshot(60_001, []))  # deregistered
    r = await admin.post(f"/v1/admin/listings/{lid}/approve", {})
    assert r.status_code == 409 and r.json()["code"] == "subnet_retired"


async def test_flagged_candidates_need_an_override(app: FastAPI, signed: SignedFactory) -> None:
    admin = await signed("admin")
    await index(app, snapshot(100, [subnet(5, registered_at=50, tao_in=10**9)]))
    lid = await _candidate_id(admin, 5)
    flags = (await admin.get(f"/v1/admin/listings/{lid}")).json()["due_diligence"]["flags"]
    assert flags == ["too_young", "pool_too_shallow"]
    r = await admin.post(f"/v1/admin/listings/{lid}/approve", {})
    assert r.status_code == 409 and r.json()["code"] == "eligibility_override_required"
    r = await admin.post(
        f"/v1/admin/listings/{lid}/approve", {"override_reason": "strategic partner"}
    )
    assert r.status_code == 200
    entry = (await admin.get("/v1/admin/audit")).json()["entries"][0]
    assert entry["reason"] == "strategic partner" and entry["after"]["flags"] == flags


async def test_invalid_parameters_write_nothing(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    admin = await signed("admin")
    await index(
        app,
        snapshot(
            60_000,
            [
                subnet(11, registered_at=OLD, tao_in=DEEP),
                subnet(12, registered_at=OLD, tao_in=DEEP),
            ],
        ),
    )
    lid = await _candidate_id(admin, 11)
    before = await _counts(db)
    cases = [
        ({"ticker": "sn11"}, 400, "invalid_ticker"),
        ({"ticker": "XALPHA"}, 400, "invalid_ticker"),
        ({"ticker": "TOOLONGTICKER1"}, 400, "invalid_ticker"),
        ({"maker_fee_bps": -1}, 400, "invalid_fee"),
        ({"taker_fee_bps": "abc"}, 400, "invalid_fee"),
        ({"tick_size": 0}, 400, "invalid_tick_size"),
        ({"lot_size": 0}, 400, "invalid_lot_size"),
        ({"lot_size": 1000, "min_size": 1500}, 400, "invalid_min_size"),
        ({"price_band_bps": 0}, 400, "invalid_price_band"),
        ({"tick_size": 2**63}, 400, "invalid_tick_size"),
        ({"min_notional": 0}, 400, "invalid_min_notional"),
        # Canonical ASCII digits only (these were accepted, or a 500).
        ({"tick_size": "²"}, 400, "invalid_tick_size"),
        ({"tick_size": "1" * 10_000}, 400, "invalid_tick_size"),
        ({"lot_size": "１０００"}, 400, "invalid_lot_size"),
        ({"maker_fee_bps": " 1"}, 400, "invalid_fee"),
        ({"maker_fee_bps": "+1"}, 400, "invalid_fee"),
        ({"maker_fee_bps": "01"}, 400, "invalid_fee"),
        ({"taker_fee_bps": "١"}, 400, "invalid_fee"),
        ({"taker_fee_bps": True}, 422, "validation_error"),
        ({"price_band_bps": 1.0}, 422, "validation_error"),
        ({"initial_state": "delisted"}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        r = await admin.post(f"/v1/admin/listings/{lid}/approve", body)
        assert (r.status_code, r.json()["code"]) == (status, code), body
    assert await _counts(db) == before

    r = await admin.post(f"/v1/admin/listings/{lid}/approve", {"ticker": "ZED"})  # 3 chars: allowed
    assert r.status_code == 200
    lid12 = await _candidate_id(admin, 12)
    r = await admin.post(f"/v1/admin/listings/{lid12}/approve", {"ticker": "ZED"})
    assert r.status_code == 409 and r.json()["code"] == "ticker_taken"
    r = await admin.post("/v1/admin/markets/ZED-TAO/state", {"state": "paused"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "state"
    r = await admin.post("/v1/admin/markets/ZED-TAO/state", {"state": "trading"})
    assert r.status_code == 409 and r.json()["code"] == "invalid_market_transition"
    r = await admin.patch("/v1/admin/markets/ZED-TAO", {"tick_size": 0})
    assert r.status_code == 400 and r.json()["code"] == "invalid_tick_size"
    for bad in ("²", "1" * 10_000, "-²", "01", " 1", "+1", "１", "1_000"):  # "²": was a 500
        r = await admin.patch("/v1/admin/markets/ZED-TAO", {"tick_size": bad, "maker_fee_bps": 1})
        assert r.status_code == 400 and r.json()["code"] == "invalid_tick_size", bad
    r = await admin.patch("/v1/admin/markets/ZED-TAO", {"min_notional": "0"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_min_notional"
    r = await admin.patch("/v1/admin/markets/NOPE-TAO", {"tick_size": 10})
    assert r.status_code == 404 and r.json()["code"] == "market_not_found"
    r = await admin.post("/v1/admin/listings/999999/approve", {})
    assert r.status_code == 404 and r.json()["code"] == "listing_not_found"
    r = await admin.patch("/v1/admin/markets/ZED-TAO", {"taker_fee_bps": 15, "tick_size": "100"})
    assert (
        r.status_code == 200 and r.json()["taker_fee_bps"] == 15 and r.json()["tick_size"] == "100"
    )
    actions = [e["action"] for e in (await admin.get("/v1/admin/audit")).json()["entries"]]
    assert actions == ["market.update", "listing.approve"]


async def test_non_admins_get_403(app: FastAPI, signed: SignedFactory) -> None:
    trader = await signed("read,trade,withdraw")
    for r in (
        await trader.get("/v1/admin/listings"),
        await trader.post("/v1/admin/listings/1/approve", {}),
        await trader.patch("/v1/admin/markets/SN1-TAO", {"tick_size": 1}),
        await trader.get("/v1/admin/audit"),
    ):
        assert r.status_code == 403 and r.json()["code"] == "permission_denied"


async def test_concurrent_approvals_make_exactly_one_market(
    app: FastAPI, signed: SignedFactory, db: AsyncEngine
) -> None:
    admins = [await signed("admin") for _ in range(8)]
    await index(app, snapshot(60_000, [subnet(21, registered_at=OLD, tao_in=DEEP)]))
    lid = await _candidate_id(admins[0], 21)
    results = await asyncio.gather(
        *(a.post(f"/v1/admin/listings/{lid}/approve", {}) for a in admins)
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [409] * 7
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"listing_not_pending"}
    assets, markets, audits, _ = await _counts(db)
    assert (assets, markets, audits) == (2, 1, 1)


async def test_broken_json_is_a_400(signed: SignedFactory, client: httpx.AsyncClient) -> None:
    admin = await signed("admin")
    from tests.signing import next_nonce

    nonce = next_nonce()
    body = b'{"nonce": %d, "ticker": ' % nonce
    r = await client.post(
        "/v1/admin/listings/1/approve",
        content=body,
        headers={
            **admin.headers("/v1/admin/listings/1/approve", nonce, body),
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"


async def test_a_retirement_announced_while_nobody_listened_still_halts_the_market(
    app: FastAPI, signed: SignedFactory
) -> None:
    """The order service halts the markets of retired subnets when told, and catches up on
    notices it missed whenever its listener (re)connects (a start-up included)."""
    admin = await signed("admin")
    await index(app, snapshot(60_000, [subnet(9, registered_at=OLD, tao_in=DEEP)]))
    lid = await _candidate_id(admin, 9)
    assert (await admin.post(f"/v1/admin/listings/{lid}/approve", {})).status_code == 200
    await app.state.notifications.stop()  # nobody listens: the notice is lost
    await index(app, snapshot(60_100, [subnet(9, registered_at=60_050, tao_in=DEEP)]))
    market = (await admin.client.get("/v1/markets/SN9-TAO")).json()
    assert market["state"] == "trading"  # not told (yet)
    await app.state.notifications.start()
    await until_state(admin.client, "SN9-TAO", "halted")
    audit = (await admin.get("/v1/admin/audit")).json()["entries"]
    assert [e["action"] for e in audit if e["target_id"] == "SN9/TAO"].count(
        "market.state.auto"
    ) == 1
