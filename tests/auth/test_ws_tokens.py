"""WebSocket tokens: a browser authenticates the feed with a short-lived token that a server
holding the key's secret got from `POST /v1/ws/token`; the token stands for that key only,
expires, and dies with the key (revoking it closes the sessions the token opened)."""

import base64
import hashlib
import hmac

import pytest
from fastapi import FastAPI

from app.auth.errors import InvalidToken, TokenExpired
from app.auth.tokens import TokenIssuer
from app.marketdata.ws import CLOSE_REVOKED
from tests.auth.test_revocation import FAREWELL, order_seen, until_closed
from tests.conftest import SERVER_KEY, SignedFactory
from tests.marketdata.conftest import WsClient, connect, limit
from tests.orders.conftest import ALPHA, PRICE, TAO, Market
from tests.signing import SignedClient


async def token_of(user: SignedClient) -> str:
    r = await user.post("/v1/ws/token")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expires_in"] == 300 and body["expires_at"]
    assert r.headers["cache-control"] == "no-store"
    token: str = body["token"]
    return token


async def token_session(ws_url: str, token: str) -> tuple[WsClient, dict[str, object]]:
    ws = await connect(ws_url)
    answer = await ws.request({"op": "auth", "token": token, "id": 1})
    return ws, answer


async def test_a_token_opens_the_private_channels_of_its_key(
    market: Market, signed: SignedFactory, ws_url: str
) -> None:
    alice = await signed("read,trade")
    await market.fund(alice, "TAO", 10 * TAO)
    token = await token_of(alice)
    ws, answer = await token_session(ws_url, token)
    assert answer == {"event": "authenticated", "id": 1, "user_id": alice.user_id}
    assert (await ws.request({"op": "subscribe", "channel": "orders"}))["event"] == "subscribed"
    r = await alice.post("/v1/orders", limit("buy", PRICE - 10_000, ALPHA))
    assert r.status_code == 201, r.text
    await order_seen(ws, r.json()["id"])

    # Usable again within its lifetime (a reconnecting page), by the same key's user only.
    again, answer = await token_session(ws_url, token)
    assert answer["event"] == "authenticated" and answer["user_id"] == alice.user_id
    await again.conn.close()
    await ws.conn.close()


async def test_revoking_the_key_kills_its_tokens_and_their_sessions(
    market: Market, signed: SignedFactory, ws_url: str
) -> None:
    bob = await signed("read")
    token = await token_of(bob)
    ws, answer = await token_session(ws_url, token)
    assert answer["event"] == "authenticated"
    assert (await bob.delete("/v1/account/key")).status_code == 200
    messages, code, reason = await until_closed(ws)
    assert (code, reason) == (CLOSE_REVOKED, "key revoked") and messages == [FAREWELL]
    late, answer = await token_session(ws_url, token)
    assert answer["code"] == "key_revoked"
    await late.conn.close()


async def test_refused_tokens(
    market: Market, signed: SignedFactory, ws_url: str, app: FastAPI
) -> None:
    trader = await signed("trade")  # no read scope: no token, and its tokens open nothing
    r = await trader.post("/v1/ws/token")
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")
    issuer: TokenIssuer = app.state.ws_tokens
    reader = await signed("read")
    genuine = await token_of(reader)
    body, mac = genuine.rsplit(".", 1)
    key_id = int(body.split(".")[1])
    expired = issuer.issue(key_id, now=1_000_000_000).token
    other_key = TokenIssuer(b"another deployment", 300).issue(key_id).token
    # The same token for another key id: the MAC no longer matches.
    _, kid, expiry, nonce = body.split(".")
    forged_body = f"v1.{int(kid) + 1}.{expiry}.{nonce}"
    cases = {
        "": "invalid_token",
        "garbage": "invalid_token",
        genuine + "x": "invalid_token",
        f"{forged_body}.{mac}": "invalid_token",
        other_key: "invalid_token",
        expired: "token_expired",
        issuer.issue(key_id + 1000).token: "invalid_key",  # a key that does not exist
    }
    ws = await connect(ws_url)
    for token, code in cases.items():
        answer = await ws.request({"op": "auth", "token": token})
        assert (answer["event"], answer["code"]) == ("error", code), (token, answer)
    answer = await ws.request({"op": "auth", "token": 12})
    assert answer["code"] == "invalid_token"
    # A key without the read scope: a token made for it (the server key is the deployment's)
    # is refused when used.
    tradeonly_id = await key_id_of(app, trader)
    answer = await ws.request({"op": "auth", "token": issuer.issue(tradeonly_id).token})
    assert answer["code"] == "permission_denied"
    # Nothing private was opened by any of them.
    answer = await ws.request({"op": "subscribe", "channel": "orders"})
    assert answer["code"] == "not_authenticated"
    await ws.conn.close()


async def key_id_of(app: FastAPI, user: SignedClient) -> int:
    from sqlalchemy import select

    from app.models import ApiKey

    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(ApiKey.id).where(ApiKey.key == user.key)))


def test_the_token_format() -> None:
    issuer = TokenIssuer(SERVER_KEY.encode(), 120)
    issued = issuer.issue(42, now=2_000_000_000)
    assert issued.expires_at == 2_000_000_120 and issued.key_id == 42
    assert issuer.verify(issued.token, now=2_000_000_119) == 42
    with pytest.raises(TokenExpired):
        issuer.verify(issued.token, now=2_000_000_120)
    version, key_id, expiry, nonce, mac = issued.token.split(".")
    assert (version, key_id, expiry) == ("v1", "42", "2000000120")
    # The MAC is an HMAC-SHA256 under a key derived from the server key for this use only.
    derived = hmac.new(SERVER_KEY.encode(), b"dtao-exchange websocket token v1", "sha256").digest()
    expected = hmac.new(derived, f"v1.42.2000000120.{nonce}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(expected).rstrip(b"=").decode() == mac
    # Two tokens for the same key and second differ.
    assert issuer.issue(42, now=2_000_000_000).token != issued.token
    with pytest.raises(InvalidToken):
        issuer.verify(issued.token.upper(), now=0)
