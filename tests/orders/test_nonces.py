"""An order's nonce is recorded in its group's transaction (no commit of its own), and
whatever becomes of a placement, its nonce is used up before the answer leaves: a replay is
refused by the database after a restart, and never places anything."""

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.errors import InvalidNonce, KeyRevoked
from app.auth.principal import NonceClaim
from app.auth.service import Authenticator, nonce_time
from app.orders.commands import OrderRequest, PlaceOrders
from tests.conftest import SignedFactory
from tests.orders.conftest import ALPHA, PRICE, TAO, Market, balances, counts, ledger_ok, limit
from tests.signing import SignedClient, next_nonce


class Signed:
    """One signed POST, kept to be sent again as it is."""

    def __init__(self, user: SignedClient, path: str, order: dict[str, Any]) -> None:
        self.nonce = next_nonce()
        self.path = path
        self.body = json.dumps({**order, "nonce": self.nonce}).encode()
        self.headers = {
            **user.headers(path, self.nonce, self.body),
            "Content-Type": "application/json",
        }

    async def send(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(self.path, content=self.body, headers=self.headers)


def restart_authenticator(app: FastAPI) -> None:
    """What a restart does to the nonces this process remembers: it forgets them all."""
    old: Authenticator = app.state.authenticator
    app.state.authenticator = Authenticator(old._engine, old._box, old._limiter)


async def recorded(db: AsyncEngine, user: SignedClient, nonce: int) -> bool:
    """Is this nonce of the user's key a row (as sent: `nonce_time` puts it on the line)?"""
    async with db.connect() as conn:
        found = await conn.scalar(
            text(
                "SELECT count(*) FROM api_key_nonces n JOIN api_keys k ON k.id = n.api_key_id "
                "WHERE k.key = :key AND n.nonce = :nonce"
            ),
            {"key": user.key, "nonce": nonce_time(nonce)},
        )
    return bool(found)


def claim(key_id: int) -> tuple[int, NonceClaim]:
    """A fresh nonce as sent, and its claim."""
    nonce = next_nonce()
    return nonce, NonceClaim(key_id, nonce_time(nonce) or 0)


async def test_a_placed_orders_nonce_is_recorded_with_it_and_replays_place_nothing(
    market: Market, signed: SignedFactory, db: AsyncEngine, client: httpx.AsyncClient, app: FastAPI
) -> None:
    alice = await market.trader(signed)
    request = Signed(alice, "/v1/orders", limit("buy", PRICE, ALPHA))
    r = await request.send(client)
    assert r.status_code == 201, r.text
    assert await recorded(db, alice, request.nonce)
    before, money = await counts(db), await balances(alice)

    replay = await request.send(client)  # refused by this process' memory
    assert replay.status_code == 401 and replay.json()["code"] == "invalid_nonce"
    restart_authenticator(app)
    replay = await request.send(client)  # refused by the group's write: nothing placed
    assert replay.status_code == 401 and replay.json()["code"] == "invalid_nonce", replay.text
    assert await counts(db) == before
    assert await balances(alice) == money
    # The key goes on working, in batches too.
    r = await alice.post("/v1/orders", limit("buy", PRICE, ALPHA))
    assert r.status_code == 201, r.text
    batch = Signed(alice, "/v1/orders/batch", {"orders": [limit("buy", PRICE, ALPHA)] * 2})
    r = await batch.send(client)
    assert r.status_code == 201 and len(r.json()) == 2, r.text
    assert await recorded(db, alice, batch.nonce)
    await ledger_ok(db)


@pytest.mark.parametrize(
    ("order", "status", "code"),
    [
        (limit("buy", PRICE, 10_000 * ALPHA), 400, "insufficient_funds"),  # by the sequencer
        (limit("buy", PRICE + 1, ALPHA), 400, "invalid_tick"),
        (limit("hold", PRICE, ALPHA), 422, "validation_error"),  # a bad body: no group
        ({**limit("buy", PRICE, ALPHA), "market": "SN9/TAO"}, 404, "market_not_found"),
    ],
)
async def test_a_refused_placements_nonce_is_used_up_too(
    market: Market,
    signed: SignedFactory,
    db: AsyncEngine,
    client: httpx.AsyncClient,
    app: FastAPI,
    order: dict[str, Any],
    status: int,
    code: str,
) -> None:
    alice = await market.trader(signed, tao=TAO)
    request = Signed(alice, "/v1/orders", order)
    r = await request.send(client)
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert await recorded(db, alice, request.nonce)
    restart_authenticator(app)
    replay = await request.send(client)
    assert replay.status_code == 401 and replay.json()["code"] == "invalid_nonce", replay.text


async def test_a_placement_refused_before_its_group_uses_its_nonce_up(
    market: Market, signed: SignedFactory, db: AsyncEngine, client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Refused before any group took it (the order service stopped): its nonce is recorded
    by the authenticator before the 503 leaves, so a replay once the service is back places
    nothing."""
    alice = await market.trader(signed)
    request = Signed(alice, "/v1/orders", limit("buy", PRICE, ALPHA))
    await app.state.orders.stop()
    try:
        r = await request.send(client)
        assert r.status_code == 503, r.text
        assert await recorded(db, alice, request.nonce)
    finally:
        await app.state.orders.start()
    before = await counts(db)
    restart_authenticator(app)
    replay = await request.send(client)
    assert replay.status_code == 401 and replay.json()["code"] == "invalid_nonce", replay.text
    assert await counts(db) == before


async def test_a_group_refuses_the_command_of_a_used_nonce_alone(
    market: Market,
    signed: SignedFactory,
    db: AsyncEngine,
    app: FastAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Commands of one group: one with a nonce the database has (another process accepted
    it), one whose key was revoked meanwhile. The group's read statement refuses those two
    alone, the others are placed and their nonces recorded; the ledger stays consistent."""
    traders = [await market.trader(signed) for _ in range(4)]
    authenticator: Authenticator = app.state.authenticator
    ids = [(await authenticator._lookup(t.key)).id for t in traders]
    sent, claims = zip(*(claim(key_id) for key_id in ids), strict=True)
    await authenticator.settle(NonceClaim(ids[1], claims[1].value))  # as another process
    async with db.begin() as conn:  # revoked by another process, not yet announced
        await conn.execute(
            text("UPDATE api_keys SET revoked_at = now() WHERE id = :id"), {"id": ids[2]}
        )
    before = await counts(db)
    groups = app.state.orders.groups_committed
    order = OrderRequest("SN1/TAO", "buy", "limit", PRICE, ALPHA)
    with caplog.at_level("WARNING", logger="app.orders"):
        results = await asyncio.gather(
            *(
                app.state.orders.submit(PlaceOrders(t.user_id, [order], c))
                for t, c in zip(traders, claims, strict=True)
            ),
            return_exceptions=True,
        )
    # One group, committed once: no failure, no books restored, nothing retried.
    assert app.state.orders.groups_committed == groups + 1
    assert "group failed" not in caplog.text
    assert isinstance(results[1], InvalidNonce) and isinstance(results[2], KeyRevoked), results
    for placed in (results[0], results[3]):
        assert not isinstance(placed, BaseException) and placed[0].status == "open", results
    assert [c.recorded for c in claims] == [True, False, False, True]
    assert [await recorded(db, t, n) for t, n in zip(traders, sent, strict=True)] == [
        True,
        True,  # by the other process
        False,
        True,
    ]
    assert (await counts(db))["orders"] == before["orders"] + 2
    await ledger_ok(db)
