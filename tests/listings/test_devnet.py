"""The listing lifecycle against a devnet-fed database: the real indexer reads the devnet over
WebSocket JSON-RPC, then the admin API lists, halts, resumes and delists what it found."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from app.chain.client import AsyncChainClient
from app.chain.devnet.server import DevnetThread
from tests.conftest import SignedFactory, fast_devnet
from tests.indexer.test_runner import make_indexer
from tests.listings.helpers import until_state
from tests.signing import SignedClient


@pytest.fixture
def devnet() -> Iterator[DevnetThread]:
    yield from fast_devnet(seed=7, subnets=4)


async def _audit(admin: SignedClient) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = (await admin.get("/v1/admin/audit")).json()["entries"]
    return entries


async def _candidates(admin: SignedClient) -> dict[int, dict[str, object]]:
    listings = (await admin.get("/v1/admin/listings", {"state": "candidate"})).json()
    return {item["netuid"]: item for item in listings}


async def test_lifecycle_on_the_devnet_fed_database(
    app: FastAPI, signed: SignedFactory, devnet: DevnetThread, chain_client: AsyncChainClient
) -> None:
    admin = await signed("admin")
    indexer = make_indexer(chain_client, app)
    assert await indexer.catch_up() >= 1

    # Discover: one candidate per dynamic subnet, with the devnet's own figures.
    truth = devnet.chain.finalized.view
    found = await _candidates(admin)
    assert set(found) == set(truth.subnets) - {0}
    first, second = sorted(found)[:2]
    dd = found[first]["due_diligence"]
    assert isinstance(dd, dict)
    assert "too_young" in dd["flags"]  # devnet subnets were registered a few blocks ago
    assert dd["age_blocks"] == devnet.chain.finalized.number - truth.subnets[first].registered_at

    # Refused: a flagged candidate without an override. Nothing is audited.
    lid = found[first]["id"]
    r = await admin.post(f"/v1/admin/listings/{lid}/approve", {})
    assert r.status_code == 409 and r.json()["code"] == "eligibility_override_required"
    assert await _audit(admin) == []

    # Approve (with override) -> halt -> resume -> delist.
    r = await admin.post(f"/v1/admin/listings/{lid}/approve", {"override_reason": "devnet"})
    assert r.status_code == 200, r.text
    market = r.json()["market"]
    symbol = f"SN{first}-TAO"
    assert market["symbol"] == f"SN{first}/TAO" and market["state"] == "trading"
    public = (await admin.client.get(f"/v1/markets/{symbol}")).json()
    assert public["reference_price"] == market["reference_price"]
    for state in ("halted", "trading", "delisted"):
        r = await admin.post(f"/v1/admin/markets/{symbol}/state", {"state": state, "reason": "t"})
        assert r.status_code == 200 and r.json()["state"] == state, r.text
    # Refused: delisted is final.
    r = await admin.post(f"/v1/admin/markets/{symbol}/state", {"state": "trading"})
    assert r.status_code == 409 and r.json()["code"] == "invalid_market_transition"
    assert [e["action"] for e in await _audit(admin)] == ["market.state"] * 3 + ["listing.approve"]

    # Netuid reuse on the chain: the approved market halts, the new token is a new candidate.
    r = await admin.post(
        f"/v1/admin/listings/{found[second]['id']}/approve", {"override_reason": "devnet"}
    )
    assert r.status_code == 200, r.text
    old_registered = truth.subnets[second].registered_at
    devnet.chain.deregister_and_reuse(second)
    devnet.chain.produce_blocks(3)
    await indexer.catch_up()
    await until_state(admin.client, f"SN{second}-TAO", "halted")
    fresh = (await _candidates(admin))[second]
    subnet = fresh["subnet"]
    assert isinstance(subnet, dict)
    new_registered = devnet.chain.finalized.view.subnets[second].registered_at
    assert subnet["registered_at_block"] == new_registered != old_registered
    r = await admin.post(f"/v1/admin/markets/SN{second}-TAO/state", {"state": "trading"})
    assert r.status_code == 409 and r.json()["code"] == "subnet_retired"

    # One entry per successful admin action, plus the indexer's automatic halt.
    audit = await _audit(admin)
    assert [e["action"] for e in audit] == [
        "market.state.auto",
        "listing.approve",
        "market.state",
        "market.state",
        "market.state",
        "listing.approve",
    ]
    assert audit[0]["actor_user_id"] is None
    assert all(e["actor_user_id"] == admin.user_id for e in audit[1:])
