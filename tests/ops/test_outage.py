"""Postgres stopped and started again under load: while it is down every answer is a 503
with Retry-After (never a 500, never a hung or dropped connection); once it is back the
service serves again by itself, and nothing acknowledged is lost."""

import asyncio
import os
import shlex
import shutil
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.config import PROJECT_ROOT
from app.kit.embedded_pg import to_async_url, with_database
from app.kit.migrate import upgrade
from tests.kraken.conftest import LOT, PRICE, TICK, Key, seed
from tests.orders.conftest import ledger_ok
from tests.orders.test_crash import Server
from tests.signing import SignedClient

pytestmark = pytest.mark.acceptance  # a real server or CLI process: see pyproject.toml

UNAVAILABLE_CODES = {"database_unavailable", "database_busy", "sequencer_unavailable"}


class OwnPostgres:
    """A Postgres server of this test's own (pgserver's binaries), to stop and start."""

    def __init__(self, data: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver import postgres_server
            from pgserver._commands import pg_ctl

        self._pg_ctl = pg_ctl
        self.server: Any = postgres_server.get_server(data, cleanup_mode="delete")
        self.pgdata: Path = self.server.pgdata
        # How it was started, to start it the same way again.
        opts = shlex.split((self.pgdata / "postmaster.opts").read_text())[1:]
        self.options = shlex.join(
            o for i, o in enumerate(opts) if o != "-D" and opts[i - 1] != "-D"
        )

    @property
    def url(self) -> str:
        return str(self.server.get_uri())

    def stop(self) -> None:
        self._pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.server.system_user)

    def start(self) -> None:
        self._pg_ctl(
            ["-w", "-o", self.options, "-l", str(self.pgdata / "log"), "start"],
            pgdata=self.pgdata,
            user=self.server.system_user,
            timeout=30,
        )

    def cleanup(self) -> None:
        self.server.cleanup()


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    # Under the project's data folder: pgserver's system user can reach it (not /tmp's).
    data = Path(os.environ.get("EXCHANGE_TEST_DATA_DIR", PROJECT_ROOT / ".data")) / "pg-outage"
    shutil.rmtree(data, ignore_errors=True)
    data.parent.mkdir(parents=True, exist_ok=True)
    pg = OwnPostgres(data)
    yield pg
    pg.cleanup()


@pytest.fixture
async def outage_db(own_postgres: OwnPostgres) -> AsyncIterator[tuple[str, AsyncEngine]]:
    server = to_async_url(own_postgres.url)
    conn = await asyncpg.connect(server.replace("+asyncpg", ""))
    try:
        await conn.execute('CREATE DATABASE "outage"')
    finally:
        await conn.close()
    url = with_database(server, "outage")
    await asyncio.to_thread(upgrade, url)
    engine = create_async_engine(url, pool_size=2, pool_pre_ping=True)
    yield url, engine
    await engine.dispose()


@dataclass
class Log:
    statuses: Counter[int] = field(default_factory=Counter)
    unavailable: list[httpx.Response] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    acked: list[dict[str, Any]] = field(default_factory=list)
    per_client: dict[int, list[int]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


async def _client_loop(
    n: int, client: SignedClient, stop: asyncio.Event, log: Log, trade: bool
) -> None:
    seen = log.per_client.setdefault(n, [])
    i = 0
    while not stop.is_set():
        i += 1
        try:
            if trade:
                side = "buy" if (i + n) % 2 else "sell"
                offset = (1 + i % 5) * TICK
                r = await client.post(
                    "/v1/orders",
                    {
                        "market": "SN1/TAO",
                        "side": side,
                        "price": str(PRICE - offset if side == "buy" else PRICE + offset - TICK),
                        "qty": str(LOT * (10 + i % 3)),
                    },
                )
            else:
                r = await client.get("/v1/balances")
        except httpx.HTTPError as exc:
            log.transport_errors.append(f"{type(exc).__name__}: {exc}")
            seen.append(-1)
            log.changed.set()
            continue
        log.statuses[r.status_code] += 1
        seen.append(r.status_code)
        log.changed.set()
        if r.status_code == 503:
            log.unavailable.append(r)
            # What a well-behaved client does, within the test's patience.
            await asyncio.sleep(min(float(r.headers.get("retry-after", "1")), 1.0) / 10)
        elif r.status_code == 201:
            log.acked.append(r.json())


async def _until(log: Log, condition: Any, what: str, patience: float = 60) -> None:
    """Wait (re-checking after every answer a client records) until `condition()`."""
    try:
        async with asyncio.timeout(patience):
            while not condition():
                log.changed.clear()
                await log.changed.wait()
    except TimeoutError:
        raise AssertionError(f"timed out waiting for: {what}") from None


async def _outage_under_load(pg: OwnPostgres, http: httpx.AsyncClient, log: Log) -> None:
    await _until(log, lambda: len(log.acked) >= 30, "orders acknowledged before the outage")

    await asyncio.to_thread(pg.stop)
    marks = {n: len(seen) for n, seen in log.per_client.items()}
    await _until(
        log,
        lambda: all(seen[marks[n] :].count(503) >= 3 for n, seen in log.per_client.items()),
        "every client answered 503 during the outage",
    )
    assert (await http.get("/ready")).status_code == 503

    await asyncio.to_thread(pg.start)
    marks = {n: len(seen) for n, seen in log.per_client.items()}
    await _until(
        log,
        lambda: all(
            sum(s in (200, 201) for s in seen[marks[n] :]) >= 3
            for n, seen in log.per_client.items()
        ),
        "every client served again after the outage",
    )


async def test_postgres_restart_under_load_gives_only_503s_and_loses_nothing(
    own_postgres: OwnPostgres, outage_db: tuple[str, AsyncEngine]
) -> None:
    url, engine = outage_db
    keys: dict[str, Key] = await seed(engine)
    server = Server(url)
    server.start()
    log = Log()
    stop = asyncio.Event()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            clients = [
                (SignedClient(http, keys[name].key, keys[name].secret, keys[name].user_id), trade)
                for name, trade in (
                    ("alice", True),
                    ("bob", True),
                    ("carol", True),
                    ("reader", False),
                )
            ]
            tasks = [
                asyncio.create_task(_client_loop(n, c, stop, log, trade))
                for n, (c, trade) in enumerate(clients)
            ]
            try:
                await _outage_under_load(own_postgres, http, log)
            finally:
                stop.set()
                await asyncio.gather(*tasks)
            assert (await http.get("/ready")).status_code == 200
    finally:
        server_log = server.log()
        server.stop()

    assert log.transport_errors == [], server_log
    assert set(log.statuses) <= {200, 201, 503}, (log.statuses, server_log)
    assert log.unavailable, "the outage was not seen"
    for r in log.unavailable:
        assert r.headers["retry-after"].isdigit(), r.headers
        assert r.json()["code"] in UNAVAILABLE_CODES, r.json()
    # Every acknowledged order is in Postgres as acknowledged (or further along).
    async with engine.connect() as conn:
        rows = {
            r.id: r for r in await conn.execute(text("SELECT id, status, filled_qty FROM orders"))
        }
    for ack in log.acked:
        row = rows.get(ack["id"])
        assert row is not None, f"acknowledged order {ack['id']} lost"
        assert row.filled_qty >= int(ack["filled_qty"])
    await ledger_ok(engine)
