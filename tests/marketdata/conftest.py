"""Market-data fixtures: the orders' SN1/TAO market, traders, and a real HTTP/WebSocket
server (uvicorn, in the test's event loop, on the already started app)."""

import asyncio
import json
import random
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any
from unittest.mock import ANY

import pytest
import uvicorn
import websockets
from fastapi import FastAPI

from app.auth.signing import sign
from app.kit.wsframes import FramingWebSocketProtocol
from tests.orders.conftest import PRICE, TICK, limit, market  # noqa: F401  (fixture)
from tests.signing import SignedClient, next_nonce


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(app: FastAPI, **config: Any) -> AsyncIterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", **config
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{port}/v1/ws"
    server.should_exit = True
    await task


@pytest.fixture
async def ws_url(app: FastAPI) -> AsyncIterator[str]:
    """The app served as `serve` runs it: feed frames written straight to the sockets."""
    async for url in _serve(app, ws=FramingWebSocketProtocol):
        yield url


@pytest.fixture(params=["frames", "asgi"])
async def each_ws_url(app: FastAPI, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Both ways a connection is sent to: as `serve` runs it (frames), and under plain
    uvicorn, every message through ASGI's `send` (as with compression on)."""
    config = {"ws": FramingWebSocketProtocol} if request.param == "frames" else {}
    async for url in _serve(app, **config):
        yield url


class WsClient:
    """A thin JSON client over `websockets`."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def send(self, message: dict[str, Any]) -> None:
        await self.conn.send(json.dumps(message))

    async def recv(self, wait: float = 5.0) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(self.conn.recv(), wait))
            if message.get("event") != "heartbeat":
                return message

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.send(message)
        return await self.recv()

    async def auth(self, user: SignedClient) -> dict[str, Any]:
        nonce = next_nonce()
        signature = sign(user.secret, "/v1/ws", str(nonce), f"nonce={nonce}".encode())
        return await self.request(
            {"op": "auth", "key": user.key, "nonce": nonce, "signature": signature}
        )

    async def until(
        self, done: Callable[[dict[str, Any]], bool], wait: float = 10.0
    ) -> list[dict[str, Any]]:
        """Every message up to and including the first for which `done` is true."""
        out: list[dict[str, Any]] = []
        async with asyncio.timeout(wait):
            while not out or not done(out[-1]):
                out.append(await self.recv(wait))
        return out

    async def nothing_more(self) -> None:
        """No message is pending: a ping's pong is the very next message (the feed keeps
        each connection's messages in order)."""
        assert await self.request({"op": "ping", "id": "barrier"}) == {
            "event": "pong",
            "id": "barrier",
            "time": ANY,
        }


async def connect(url: str) -> WsClient:
    return WsClient(await websockets.connect(url, max_queue=None))


async def random_flow(traders: list[SignedClient], n: int, seed: int) -> list[int]:
    """n random actions: limit orders around PRICE (many crossing) and cancels."""
    rng = random.Random(seed)
    open_ids: list[tuple[SignedClient, int]] = []
    placed = []
    for _ in range(n):
        if open_ids and rng.random() < 0.2:
            user, oid = open_ids.pop(rng.randrange(len(open_ids)))
            await user.delete(f"/v1/orders/{oid}")
            continue
        user = rng.choice(traders)
        side = rng.choice(("buy", "sell"))
        price = PRICE + rng.randint(-12, 12) * TICK * 10
        qty = rng.randint(1, 40) * 10**8
        r = await user.post("/v1/orders", limit(side, price, qty))
        assert r.status_code == 201, r.text
        body = r.json()
        placed.append(body["id"])
        if body["status"] == "open":
            open_ids.append((user, body["id"]))
    return placed
