"""Kraken's GetWebSocketsToken: a short-lived token for the calling key, usable on the
WebSocket `/v1/ws` instead of a signature (a browser need not hold the secret); revoking
the key makes it worthless."""

import httpx

from tests.conftest import SignedFactory
from tests.kraken.test_private import kraken
from tests.marketdata.conftest import (
    connect,
    ws_url,  # noqa: F401  (the fixture)
)
from tests.orders.conftest import Market


async def test_a_kraken_websockets_token_authenticates_the_feed_until_the_key_is_revoked(
    client: httpx.AsyncClient,
    signed: SignedFactory,
    market: Market,
    ws_url: str,  # noqa: F811
) -> None:
    alice = await signed("read,trade")
    answer = await kraken(client, alice, "GetWebSocketsToken")
    assert answer["error"] == [] and answer["result"]["expires"] == 300
    token = answer["result"]["token"]
    ws = await connect(ws_url)
    authed = await ws.request({"op": "auth", "token": token, "id": 1})
    assert authed == {"event": "authenticated", "id": 1, "user_id": alice.user_id}
    subscribed = await ws.request({"op": "subscribe", "channel": "orders"})
    assert subscribed["event"] == "subscribed"
    await ws.conn.close()
    forged = await connect(ws_url)
    tampered = token[:-1] + ("B" if token[-1] != "B" else "C")  # (ending "AA" it once was)
    refused = await forged.request({"op": "auth", "token": tampered, "id": 2})
    assert refused["event"] == "error" and refused["code"] == "invalid_token"
    await forged.conn.close()
    assert (await alice.delete("/v1/account/key")).status_code == 200
    late = await connect(ws_url)
    refused = await late.request({"op": "auth", "token": token, "id": 3})
    assert refused["event"] == "error" and refused["code"] == "key_revoked"
    await late.conn.close()
