"""Revoking a key ends its live WebSocket sessions at once: the private stream stops, the
client is told (`key_revoked`) and the connection closed with code 4001. Notices missed
while the listener was disconnected are caught when it reconnects."""

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import websockets
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.service import Authenticator, revoke_api_key
from app.kit.notify import APPLICATION_NAME, Listener
from app.marketdata.ws import CLOSE_REVOKED, MarketDataHub
from tests.conftest import SignedFactory
from tests.marketdata.conftest import WsClient, connect, limit
from tests.orders.conftest import ALPHA, PRICE, TAO, Market, counts, ledger_ok
from tests.signing import SignedClient

FAREWELL = {"event": "error", "code": "key_revoked", "message": "this API key has been revoked"}


async def until_closed(ws: WsClient, wait: float = 10.0) -> tuple[list[dict[str, Any]], int, str]:
    """Every message up to the close frame (heartbeats left out), and the close code/reason."""
    messages: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(wait):
            while True:
                message = json.loads(await ws.conn.recv())
                if message.get("event") != "heartbeat":
                    messages.append(message)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return messages, closed.rcvd.code, closed.rcvd.reason
    except TimeoutError:
        raise AssertionError(f"not closed within {wait}s; got {messages}") from None


async def until(condition: Callable[[], bool], wait: float = 10.0) -> None:
    for _ in range(int(wait / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not true within {wait}s")


async def private_session(ws_url: str, user: SignedClient) -> WsClient:
    ws = await connect(ws_url)
    assert (await ws.auth(user))["event"] == "authenticated"
    for channel in ("orders", "fills", "balances"):
        assert (await ws.request({"op": "subscribe", "channel": channel}))["event"] == "subscribed"
    return ws


async def order_seen(ws: WsClient, order_id: int) -> None:
    """Wait for the `orders` message of that order (balances may come around it)."""
    async with asyncio.timeout(10):
        while True:
            message = await ws.recv()
            if message.get("channel") == "orders" and message["data"]["id"] == order_id:
                return


async def two_keys(market: Market, signed: SignedFactory, email: str) -> tuple[SignedClient, ...]:
    """One funded user with two API keys (both read and trade)."""
    first = await signed("read,trade", email=email)
    second = await signed("read,trade", email=email)
    assert first.user_id == second.user_id
    await market.fund(first, "TAO", 100 * TAO)
    return first, second


async def test_revoking_a_key_closes_its_sessions_and_stops_its_private_stream(
    market: Market, signed: SignedFactory, ws_url: str, db: AsyncEngine
) -> None:
    hub: MarketDataHub = market.app.state.marketdata
    alice, alice_other_key = await two_keys(market, signed, "alice@example.com")
    revoked_ws = await private_session(ws_url, alice)
    other_ws = await private_session(ws_url, alice_other_key)

    # Private data flows to both sessions before the revocation.
    r = await alice_other_key.post("/v1/orders", limit("buy", PRICE - 10_000, ALPHA))
    assert r.status_code == 201, r.text
    first = r.json()["id"]
    await order_seen(revoked_ws, first)
    await order_seen(other_ws, first)
    await revoked_ws.until(lambda m: m.get("channel") == "balances")  # follows the order

    # The key revokes itself through the API.
    r = await alice.delete("/v1/account/key")
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == alice.user_id and r.json()["revoked_at"] is not None
    revoked_id = r.json()["id"]
    messages, code, reason = await until_closed(revoked_ws)
    assert (code, reason) == (CLOSE_REVOKED, "key revoked")
    assert messages == [FAREWELL]  # nothing private after the revocation
    assert hub.revoked_connections == 1
    assert not market.app.state.authenticator.is_cached(revoked_id)  # secret forgotten

    # The user's other key is not affected: its session goes on receiving its orders.
    before = await counts(db)
    r = await alice_other_key.post("/v1/orders", limit("buy", PRICE - 20_000, ALPHA))
    assert r.status_code == 201, r.text
    await order_seen(other_ws, r.json()["id"])
    assert (await counts(db))["orders"] == before["orders"] + 1
    assert alice.user_id in hub.users and len(hub.users[alice.user_id]) == 1

    # And the revoked key gets nothing more anywhere.
    r = await alice.get("/v1/account")
    assert (r.status_code, r.json()["code"]) == (401, "key_revoked")
    assert not market.app.state.authenticator.is_cached(revoked_id)  # and not cached again
    again = await connect(ws_url)
    assert (await again.auth(alice))["code"] == "key_revoked"
    await again.conn.close()
    await other_ws.conn.close()
    await ledger_ok(db)


async def test_admin_revocation_is_audited_and_closes_the_sessions(
    market: Market, signed: SignedFactory, ws_url: str, client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    bob = await signed("read,trade")
    ws = await private_session(ws_url, bob)
    async with db.connect() as conn:
        key_id = await conn.scalar(text("SELECT id FROM api_keys WHERE key = :k"), {"k": bob.key})

    # Only admins; an unknown key is a 404; a reason is required.
    r = await bob.post(f"/v1/admin/keys/{key_id}/revoke", {"reason": "mine"})
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")
    r = await market.admin.post("/v1/admin/keys/999999/revoke", {"reason": "nope"})
    assert (r.status_code, r.json()["code"]) == (404, "key_not_found")
    r = await market.admin.post(f"/v1/admin/keys/{key_id}/revoke", {})
    assert r.status_code == 422
    assert (await ws.request({"op": "ping"}))["event"] == "pong"  # still open

    r = await market.admin.post(f"/v1/admin/keys/{key_id}/revoke", {"reason": "leaked"})
    assert r.status_code == 200, r.text
    revoked_at = r.json()["revoked_at"]
    assert r.json()["id"] == key_id and revoked_at is not None
    messages, code, _ = await until_closed(ws)
    assert (messages, code) == ([FAREWELL], CLOSE_REVOKED)
    audit = (await market.admin.get("/v1/admin/audit", {"action": "api_key.revoke"})).json()
    [entry] = audit["entries"]
    assert entry["target_id"] == str(key_id) and entry["reason"] == "leaked"
    assert entry["before"] == {"revoked_at": None} and entry["after"]["revoked_at"]
    # Revoking again is harmless: the first revocation time stays.
    r = await market.admin.post(f"/v1/admin/keys/{key_id}/revoke", {"reason": "again"})
    assert r.status_code == 200 and r.json()["revoked_at"] == revoked_at


async def test_re_authenticating_with_another_key_detaches_the_first(
    market: Market, signed: SignedFactory, ws_url: str
) -> None:
    first, second = await two_keys(market, signed, "carol@example.com")
    ws = await private_session(ws_url, first)
    assert (await ws.auth(second))["event"] == "authenticated"
    assert (await first.delete("/v1/account/key")).status_code == 200
    # The session now runs on the second key: the first key's revocation leaves it open
    # (still private: its subscriptions carry on).
    r = await second.post("/v1/orders", limit("buy", PRICE - 10_000, ALPHA))
    await order_seen(ws, r.json()["id"])
    assert (await second.delete("/v1/account/key")).status_code == 200
    messages, code, _ = await until_closed(ws)
    assert code == CLOSE_REVOKED and messages[-1] == FAREWELL
    assert all("channel" not in m or m["channel"] == "balances" for m in messages)


async def test_missed_notices_are_caught_when_the_listener_reconnects(
    app: FastAPI, market: Market, signed: SignedFactory, ws_url: str
) -> None:
    listener: Listener = app.state.notifications
    authenticator: Authenticator = app.state.authenticator
    dave = await signed("read")
    ws = await private_session(ws_url, dave)
    await listener.stop()  # nobody listens: the notice of this revocation is lost
    async with app.state.sessionmaker() as session:
        revoked = await revoke_api_key(session, dave.key)
        await session.commit()
    assert (await ws.request({"op": "ping"}))["event"] == "pong"  # not told (yet)
    assert authenticator.is_cached(revoked.id)

    await listener.start()  # on (re)connection: every live session's key is looked up
    messages, code, _ = await until_closed(ws)
    assert (messages, code) == ([FAREWELL], CLOSE_REVOKED)
    assert not authenticator.is_cached(revoked.id)


async def test_the_listener_reconnects_when_its_connection_is_killed(
    app: FastAPI, signed: SignedFactory, ws_url: str, db: AsyncEngine
) -> None:
    listener: Listener = app.state.notifications
    erin = await signed("read")
    ws = await private_session(ws_url, erin)
    connections = listener.connections
    async with db.connect() as conn:
        killed = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": APPLICATION_NAME},
        )
    assert killed == 1
    await until(lambda: listener.connections > connections)
    assert (await ws.request({"op": "ping"}))["event"] == "pong"
    # Listening again: a revocation from now on is delivered as it commits.
    async with app.state.sessionmaker() as session:
        await revoke_api_key(session, erin.key)
        await session.commit()
    messages, code, _ = await until_closed(ws)
    assert (messages, code) == ([FAREWELL], CLOSE_REVOKED)
