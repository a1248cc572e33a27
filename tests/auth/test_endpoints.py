"""Signed requests end to end: every way to fail has its own status and code."""

import httpx
import pytest
from fastapi import FastAPI

from app.auth.service import revoke_api_key
from app.auth.signing import sign
from tests.conftest import SignedFactory
from tests.signing import next_nonce


async def test_signed_get_returns_the_keys_account(signed: SignedFactory) -> None:
    alice = await signed("read", email="alice@example.com")
    r = await alice.get("/v1/account")
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "alice@example.com"
    assert r.json()["scopes"] == ["read"]
    assert r.json()["user_id"] == alice.user_id


async def test_signed_json_post_with_nonce_in_body(
    signed: SignedFactory, client: httpx.AsyncClient
) -> None:
    # GET /v1/account read through a body-carrying request: the nonce comes from the JSON body.
    alice = await signed("read")
    nonce = next_nonce()
    body = f'{{"nonce": {nonce}}}'.encode()
    r = await client.request(
        "GET",
        "/v1/account",
        content=body,
        headers={**alice.headers("/v1/account", nonce, body), "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text


async def test_missing_headers(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/account")
    assert r.status_code == 401
    assert r.json()["code"] == "missing_credentials"


async def test_unknown_key(client: httpx.AsyncClient, signed: SignedFactory) -> None:
    alice = await signed("read")
    nonce = next_nonce()
    query = f"nonce={nonce}"
    headers = {
        "API-Key": "nope" + alice.key[4:],
        "API-Sign": sign(alice.secret, "/v1/account", str(nonce), query),
    }
    r = await client.get(f"/v1/account?{query}", headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_key"


async def test_wrong_signature(client: httpx.AsyncClient, signed: SignedFactory) -> None:
    alice = await signed("read")
    bob = await signed("read")
    nonce = next_nonce()
    query = f"nonce={nonce}"
    # Alice's key, signed with Bob's secret.
    headers = {"API-Key": alice.key, "API-Sign": sign(bob.secret, "/v1/account", str(nonce), query)}
    r = await client.get(f"/v1/account?{query}", headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_signature"
    # Signature over another path does not transfer either.
    headers = {"API-Key": alice.key, "API-Sign": sign(alice.secret, "/v1/other", str(nonce), query)}
    r = await client.get(f"/v1/account?{query}", headers=headers)
    assert r.json()["code"] == "invalid_signature"


async def test_replayed_and_lower_nonce(client: httpx.AsyncClient, signed: SignedFactory) -> None:
    alice = await signed("read")
    nonce = next_nonce()
    query = f"nonce={nonce}"
    headers = alice.headers("/v1/account", nonce, query)
    first = await client.get(f"/v1/account?{query}", headers=headers)
    assert first.status_code == 200
    replay = await client.get(f"/v1/account?{query}", headers=headers)
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_nonce"
    # Below the highest within the key's window (10 s): accepted, once.
    lower = nonce - 1
    r = await client.get(
        f"/v1/account?nonce={lower}", headers=alice.headers("/v1/account", lower, f"nonce={lower}")
    )
    assert r.status_code == 200
    r = await client.get(
        f"/v1/account?nonce={lower}", headers=alice.headers("/v1/account", lower, f"nonce={lower}")
    )
    assert r.json()["code"] == "invalid_nonce"
    # Older than the window (the test nonces are microseconds): refused.
    old = nonce - 11_000_000
    r = await client.get(
        f"/v1/account?nonce={old}", headers=alice.headers("/v1/account", old, f"nonce={old}")
    )
    assert r.json()["code"] == "invalid_nonce"
    # A client counting in milliseconds after one counting in microseconds: the same time
    # line, so a later time works (and an earlier one outside the window does not).
    ms = nonce // 1000 + 1000
    r = await client.get(
        f"/v1/account?nonce={ms}", headers=alice.headers("/v1/account", ms, f"nonce={ms}")
    )
    assert r.status_code == 200, r.text
    ns = (nonce + 1) * 1000
    r = await client.get(
        f"/v1/account?nonce={ns}", headers=alice.headers("/v1/account", ns, f"nonce={ns}")
    )
    assert r.status_code == 200, r.text
    # Missing nonce.
    r = await client.get("/v1/account", headers=alice.headers("/v1/account", "", ""))
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_nonce"


async def test_revoked_key(app: FastAPI, signed: SignedFactory) -> None:
    alice = await signed("read")
    assert (await alice.get("/v1/account")).status_code == 200
    async with app.state.sessionmaker() as session:
        await revoke_api_key(session, alice.key)
        await session.commit()
    r = await alice.get("/v1/account")
    assert r.status_code == 401
    assert r.json()["code"] == "key_revoked"


async def test_missing_scope(signed: SignedFactory) -> None:
    trader = await signed("trade")
    r = await trader.get("/v1/account")
    assert r.status_code == 403
    assert r.json()["code"] == "permission_denied"


async def test_rate_limit_answers_429_with_retry_after(app: FastAPI, signed: SignedFactory) -> None:
    from app.kit.ratelimit import TokenBucketLimiter

    app.state.authenticator._limiter = TokenBucketLimiter(rate_per_second=0.5, burst=2)
    alice = await signed("read")
    assert (await alice.get("/v1/account")).status_code == 200
    assert (await alice.get("/v1/account")).status_code == 200
    r = await alice.get("/v1/account")
    assert r.status_code == 429
    assert r.json()["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1
    # Another key has its own bucket.
    bob = await signed("read")
    assert (await bob.get("/v1/account")).status_code == 200


async def test_concurrent_requests_within_the_nonce_window_are_each_accepted_once(
    app: FastAPI, client: httpx.AsyncClient, signed: SignedFactory
) -> None:
    import asyncio
    import random

    from app.auth.service import Authenticator

    alice = await signed("read")
    base = next_nonce() + 1_000_000  # microseconds, ahead of anything used
    nonces = [base - i for i in range(60)]  # (64 in flight per key at most)
    random.Random(7).shuffle(nonces)  # they arrive in any order within the window

    async def call(nonce: int) -> int:
        query = f"nonce={nonce}"
        r = await client.get(
            f"/v1/account?{query}", headers=alice.headers("/v1/account", nonce, query)
        )
        return r.status_code

    assert await asyncio.gather(*(call(n) for n in nonces)) == [200] * 60
    # Each once: a replay of any of them is refused, here and in a fresh process.
    assert await asyncio.gather(*(call(n) for n in nonces[:20])) == [401] * 20
    old: Authenticator = app.state.authenticator
    app.state.authenticator = Authenticator(old._engine, old._box, old._limiter)
    try:
        assert await asyncio.gather(*(call(n) for n in nonces[:20])) == [401] * 20
        assert await call(base + 1) == 200
    finally:
        app.state.authenticator = old


async def test_nonce_memory_stays_bounded_and_forgotten_nonces_are_still_refused(
    app: FastAPI, signed: SignedFactory
) -> None:
    """A key used with counter nonces (never older than the window): this process keeps
    only its latest nonces in memory (each request used to scan all it had seen, so requests
    slowed as a key's history grew); a replay of a forgotten one is refused by the
    database."""
    import asyncio

    from app.auth.errors import InvalidNonce
    from app.auth.service import Authenticator

    alice = await signed("read")
    old: Authenticator = app.state.authenticator
    authenticator = Authenticator(old._engine, old._box, old._limiter, remembered_nonces=16)
    key_id = (await authenticator._lookup(alice.key)).id

    async def use(nonce: int) -> None:
        payload = f"nonce={nonce}"
        signature = sign(alice.secret, "/v1/account", str(nonce), payload)
        await authenticator.authenticate(
            alice.key, signature, "/v1/account", str(nonce), payload.encode(), None
        )

    for start in range(1, 201, 20):  # counters 1..200, 20 at a time
        await asyncio.gather(*(use(n) for n in range(start, start + 20)))
        assert authenticator.remembered(key_id) <= 2 * 16
    assert authenticator.remembered(key_id) >= 16
    for replay in (1, 57, 200):  # forgotten (refused by the database), remembered
        with pytest.raises(InvalidNonce):
            await use(replay)
    await use(201)  # a new one is still accepted
