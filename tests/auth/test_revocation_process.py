"""Across processes: a key revoked by `python -m app keys revoke` (its own process, the same
database) ends the key's WebSocket session on a running server at once (close code 4001)."""

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.signing import sign
from app.config import PROJECT_ROOT
from app.marketdata.ws import CLOSE_REVOKED
from tests.conftest import truncate_all
from tests.kraken.conftest import Key, seed
from tests.orders.conftest import ledger_ok
from tests.orders.test_crash import Server
from tests.signing import SignedClient, next_nonce

pytestmark = pytest.mark.acceptance  # a real server or CLI process: see pyproject.toml


@pytest.fixture
async def running(
    engine: AsyncEngine, database_url: str
) -> AsyncIterator[tuple[Server, dict[str, Key]]]:
    await truncate_all(engine)
    keys = await seed(engine)  # SN1/TAO trading, funded users with keys
    server = Server(database_url)
    server.start()
    try:
        yield server, keys
    finally:
        server.stop()
        await truncate_all(engine)


async def recv(ws: Any, wait: float = 10.0) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait))
        if message.get("event") != "heartbeat":
            return message


async def test_cli_revocation_closes_the_session_on_a_running_server(
    running: tuple[Server, dict[str, Key]], engine: AsyncEngine
) -> None:
    server, keys = running
    alice = keys["alice"]
    ws_url = server.url.replace("http://", "ws://") + "/v1/ws"
    async with (
        websockets.connect(ws_url) as ws,
        httpx.AsyncClient(base_url=server.url, timeout=10) as http,
    ):
        nonce = next_nonce()
        signature = sign(alice.secret, "/v1/ws", str(nonce), f"nonce={nonce}")
        await ws.send(
            json.dumps({"op": "auth", "key": alice.key, "nonce": nonce, "signature": signature})
        )
        assert await recv(ws) == {"event": "authenticated", "user_id": alice.user_id}
        await ws.send(json.dumps({"op": "subscribe", "channel": "orders"}))
        assert (await recv(ws))["event"] == "subscribed"

        # The session streams alice's private data.
        trader = SignedClient(http, alice.key, alice.secret, alice.user_id)
        order = {"market": "SN1/TAO", "side": "buy", "price": "49000000", "qty": "100000000"}
        r = await trader.post("/v1/orders", order)
        assert r.status_code == 201, r.text
        message = await recv(ws)
        assert message["channel"] == "orders" and message["data"]["id"] == r.json()["id"]

        # Another process revokes the key.
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app", "keys", "revoke", alice.key,
            env=server.env, cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(cli.communicate(), 60)
        assert cli.returncode == 0, err.decode()
        assert out.decode().strip() == "revoked"

        # The server closes the session (on the commit's notice: no polling), with nothing
        # private in between. The wait is a liveness deadline, not a measure of speed.
        messages = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                messages.append(await recv(ws, wait=30.0))
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (CLOSE_REVOKED, "key revoked")
        assert [m.get("code") for m in messages] == ["key_revoked"]

        # The key is refused on the server (its cached secret notwithstanding).
        r = await trader.get("/v1/orders")
        assert (r.status_code, r.json()["code"]) == (401, "key_revoked")
        # Other keys carry on.
        bob = keys["bob"]
        r = await SignedClient(http, bob.key, bob.secret, bob.user_id).get("/v1/orders")
        assert r.status_code == 200, r.text
    await ledger_ok(engine)  # the order's hold moved money: the ledger still balances
