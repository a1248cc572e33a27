"""kill -9 under load: every acknowledged order and fill survives, the rebuilt book equals
the one before the kill, and the ledger still balances."""

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.auth.scopes import Scope
from app.auth.service import create_api_key
from app.config import PROJECT_ROOT
from app.kit.crypto import SecretBox
from tests.conftest import SERVER_KEY, truncate_all
from tests.orders.conftest import ledger_ok
from tests.orders.test_properties import LOT, MID, TICK, _setup
from tests.signing import SignedClient

pytestmark = pytest.mark.acceptance  # a real server or CLI process: see pyproject.toml


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, database_url: str) -> None:
        self.port = _free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "EXCHANGE_SECRET_KEY": SERVER_KEY,
            "EXCHANGE_INDEXER_ENABLED": "false",
            "EXCHANGE_RATE_LIMIT_PER_SECOND": "100000",
            "EXCHANGE_RATE_LIMIT_BURST": "100000",
            "EXCHANGE_REFUSAL_RATE_PER_CONNECTION": "0",  # tests refuse on purpose, fast
            "EXCHANGE_LOG_LEVEL": "WARNING",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        # The server's log (warnings and errors), for a failing test to show.
        fd, name = tempfile.mkstemp(prefix="exchange-server-", suffix=".log")
        os.close(fd)
        self.log_path = Path(name)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, last: int = 4000) -> str:
        """The end of what the server (every start of it) wrote to stderr."""
        return self.log_path.read_text(errors="replace")[-last:]

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=PROJECT_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "server exited"
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("server not ready")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log_path.unlink(missing_ok=True)


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    s = Server(database_url)
    yield s
    s.stop()


async def _keys(engine: AsyncEngine, users: list[int]) -> list[tuple[str, str, int]]:
    box = SecretBox(SERVER_KEY.encode())
    out = []
    async with async_sessionmaker(engine)() as s:
        for uid in users:
            issued = await create_api_key(s, box, uid, [Scope.READ, Scope.TRADE])
            out.append((issued.key, issued.secret, uid))
        await s.commit()
    return out


async def _trade(
    client: SignedClient, rng: random.Random, acks: list[dict[str, str]], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        body = {
            "market": "SN1/TAO",
            "side": rng.choice(["buy", "sell"]),
            "price": str(MID + rng.randint(-3, 3) * TICK),
            "qty": str(rng.randint(1, 20) * LOT),
        }
        try:
            r = await client.post("/v1/orders", body)
        except httpx.HTTPError:
            return  # the server died mid-request: this order was never acknowledged
        if r.status_code == 201:
            acks.append(r.json())


async def test_sigkill_under_load_loses_nothing_acknowledged(
    engine: AsyncEngine, server: Server, database_url: str
) -> None:
    await truncate_all(engine)
    users = await _setup(engine)
    keys = await _keys(engine, users * 3)  # one key per worker: nonces rise per key
    server.start()
    acks: list[dict[str, str]] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        clients = [SignedClient(http, k, s, uid) for k, s, uid in keys]
        stop = asyncio.Event()
        workers = [
            asyncio.create_task(_trade(c, random.Random(i), acks, stop))
            for i, c in enumerate(clients)
        ]
        await asyncio.sleep(1.5)
        server.kill()  # mid-flight: requests in progress get no answer
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
    assert len(acks) > 20, "the load did not get going"
    assert any(int(a["filled_qty"]) for a in acks), "no order traded"

    server.start()
    async with engine.connect() as conn:
        rows = {
            r.id: r for r in await conn.execute(text("SELECT id, status, filled_qty FROM orders"))
        }
    for ack in acks:
        row = rows.get(ack["id"])
        assert row is not None, f"acknowledged order {ack['id']} lost"
        assert row.filled_qty >= int(ack["filled_qty"])
        if ack["status"] != "open":
            assert row.status == ack["status"]
    await ledger_ok(engine)

    # Quiet now: the book a client sees before a kill is the book after the restart.
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        before = (await http.get("/v1/markets/SN1-TAO/book", params={"depth": 1000})).json()
        server.kill()
        server.start()
        after = (await http.get("/v1/markets/SN1-TAO/book", params={"depth": 1000})).json()
    assert before["bids"] or before["asks"]
    assert (after["bids"], after["asks"]) == (before["bids"], before["asks"])
    # A restart is told apart from a gap: the sequence starts again in another epoch.
    assert after["epoch"] != before["epoch"]
    async with engine.connect() as conn:
        open_qty = await conn.scalar(
            text("SELECT coalesce(sum(qty - filled_qty), 0) FROM orders WHERE status = 'open'")
        )
    assert open_qty == sum(int(x["qty"]) for x in before["bids"] + before["asks"])
    server.stop()
    await truncate_all(engine)
