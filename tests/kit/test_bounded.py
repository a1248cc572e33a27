"""Every wait is bounded: in-flight limits per key and per client, a pooled connection, a
statement, and a command's wait for the order sequencer. Beyond each, an immediate 429 or a
503 with Retry-After, and nothing done."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.kit.http import RequestContextMiddleware, install_error_handlers
from app.kit.metrics import REGISTRY
from app.kit.ratelimit import TokenBucketLimiter
from app.main import create_app
from tests.conftest import SignedFactory
from tests.orders.conftest import LOT, PRICE, TICK, counts, ledger_ok, make_market

# ---------------------------------------------------------------------------- in flight


class Inside:
    """How many requests reached the route; `reach(n)` waits until n have."""

    def __init__(self) -> None:
        self.n = 0
        self.changed = asyncio.Event()

    def enter(self) -> None:
        self.n += 1
        self.changed.set()

    async def reach(self, n: int) -> None:
        async with asyncio.timeout(10):
            while self.n < n:
                self.changed.clear()
                await self.changed.wait()


def _gated_app(per_client: int, per_key: int) -> tuple[FastAPI, asyncio.Event, Inside]:
    """A route that waits for a gate, behind the service's middleware."""
    gate, inside = asyncio.Event(), Inside()
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=1024,
        max_inflight_per_client=per_client,
        max_inflight_per_key=per_key,
    )

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        inside.enter()
        await gate.wait()
        return {"ok": True}

    return app, gate, inside


@pytest.mark.parametrize("limit_on", ["key", "client"])
async def test_requests_beyond_the_in_flight_limit_get_429_at_once(limit_on: str) -> None:
    app, gate, inside = _gated_app(per_client=3 if limit_on == "client" else 0, per_key=3)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        headers = {"API-Key": "k1"} if limit_on == "key" else {}
        held = [asyncio.create_task(http.get("/slow", headers=headers)) for _ in range(3)]
        await inside.reach(3)
        refused = await http.get("/slow", headers=headers)
        assert refused.status_code == 429
        assert refused.json()["code"] == "too_many_in_flight"
        assert refused.headers["retry-after"] == "1"
        assert inside.n == 3  # the refused request never reached the route
        if limit_on == "key":  # another key is not limited by this one
            other = asyncio.create_task(http.get("/slow", headers={"API-Key": "k2"}))
            await inside.reach(4)
            held.append(other)
        gate.set()
        assert all(r.status_code == 200 for r in await asyncio.gather(*held))
        # Answered: the slots are free again.
        assert (await http.get("/slow", headers=headers)).status_code == 200


# ---------------------------------------------------------------------------- the database


@pytest.fixture
async def tight_app(
    settings: Settings, database_url: str, db: AsyncEngine
) -> AsyncIterator[FastAPI]:
    tight = settings.model_copy(
        update={
            "db_pool_size": 1,
            "db_max_overflow": 0,
            "db_pool_timeout_seconds": 0.3,
            "db_statement_timeout_seconds": 0.5,
            "sequencer_admission_timeout_seconds": 0.5,
            "sequencer_max_queue": 3,
        }
    )
    application = create_app(tight, database_url=database_url)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def tight_client(tight_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=tight_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
def tight_signed(tight_client: httpx.AsyncClient, tight_app: FastAPI) -> SignedFactory:
    return SignedFactory(tight_client, tight_app)


async def test_no_pooled_connection_in_time_is_a_503(
    tight_app: FastAPI, tight_signed: SignedFactory
) -> None:
    user = await tight_signed("read")
    async with tight_app.state.engine.connect() as hog:  # the request pool's only connection
        await hog.execute(text("SELECT 1"))
        r = await user.get("/v1/balances")
    assert r.status_code == 503
    assert r.json()["code"] == "database_busy"
    assert int(r.headers["retry-after"]) >= 1
    assert (await user.get("/v1/balances")).status_code == 200  # the pool is back


async def test_a_statement_past_its_timeout_is_a_503(
    tight_signed: SignedFactory, db: AsyncEngine
) -> None:
    user = await tight_signed("read")
    async with db.connect() as blocker:
        await blocker.execute(text("LOCK TABLE ledger_accounts IN ACCESS EXCLUSIVE MODE"))
        r = await user.get("/v1/balances")
        await blocker.rollback()
    assert r.status_code == 503
    assert r.json()["code"] == "database_busy"
    assert (await user.get("/v1/balances")).status_code == 200


async def test_commands_not_started_in_time_are_refused_and_never_done(
    tight_app: FastAPI, tight_signed: SignedFactory, db: AsyncEngine
) -> None:
    market = await make_market(tight_app, tight_signed)
    trader = await market.trader(tight_signed)
    before = await counts(db)
    order = {"market": "SN1/TAO", "side": "buy", "price": str(PRICE - TICK), "qty": str(LOT)}
    async with db.connect() as blocker:
        # The first group blocks on the trader's balance rows: it has started (and will
        # finish); the commands queued behind it are not started within the deadline.
        await blocker.execute(text("LOCK TABLE ledger_accounts IN ACCESS EXCLUSIVE MODE"))
        first = asyncio.create_task(trader.post("/v1/orders", order))
        await _lock_waiters(db, 1)
        queued = await asyncio.gather(*(trader.post("/v1/orders", order) for _ in range(5)))
        await blocker.rollback()
    codes = sorted(r.json()["code"] for r in queued)
    assert all(r.status_code == 503 and r.headers["retry-after"] for r in queued)
    assert set(codes) == {"sequencer_busy"}
    # The first one either committed or timed out in the database: never half done.
    r = await first
    assert r.status_code in (201, 503), r.text
    after = await counts(db)
    assert after["orders"] == before["orders"] + (1 if r.status_code == 201 else 0)
    await ledger_ok(db)


async def _lock_waiters(db: AsyncEngine, n: int) -> None:
    """Until `n` sessions wait on a lock (the first group has started and is blocked)."""
    sql = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    async with asyncio.timeout(10):
        while True:
            async with db.connect() as conn:
                if (await conn.scalar(sql) or 0) >= n:
                    return
            await asyncio.sleep(0.02)


# ---------------------------------------------------------------------------- refusals


def test_a_debt_of_refusals_is_paid_in_waiting() -> None:
    now = [0.0]
    bucket = TokenBucketLimiter(10, 2, clock=lambda: now[0])
    assert [bucket.charge("c", 1.0) for _ in range(2)] == [0.0, 0.0]  # the burst
    assert bucket.charge("c", 1.0) == pytest.approx(0.1)  # one token short at 10/s
    assert bucket.charge("c", 1.0) == pytest.approx(0.2)
    for _ in range(50):
        bucket.charge("c", 1.0)
    assert bucket.charge("c", 1.0) == pytest.approx(1.0)  # never more than max_wait
    assert bucket.charge("other", 1.0) == 0.0  # a key of its own
    now[0] += 10.0
    assert bucket.charge("c", 1.0) == 0.0  # paid off


async def test_a_client_flooding_refusals_waits_and_slows_nobody_else() -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=1024, refusal_rate=50)

    @app.post("/thing")
    async def thing() -> dict[str, bool]:
        return {"ok": True}

    def client(port: int) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=("10.0.0.9", port))
        return httpx.AsyncClient(transport=transport, base_url="http://t")

    def delayed() -> float:
        return REGISTRY.get_sample_value("http_refusals_delayed_total") or 0.0

    before = delayed()
    async with client(1) as flooder, client(2) as other:
        for _ in range(90):  # within the burst (100): answered at once
            r = await flooder.post("/thing", content=b'{"a": "\\u0000"}')
            assert r.status_code == 400
        assert delayed() == before
        for _ in range(200):  # past it: answered late
            assert (await flooder.post("/thing", content=b"{")).status_code == 400
            if delayed() > before:
                break
        assert delayed() > before
        mark = delayed()
        # Another connection, and the flooder's own good requests, are not delayed.
        assert (await other.post("/thing", content=b"[1]")).status_code == 200
        assert (await flooder.post("/thing", content=b"[1]")).status_code == 200
        assert (await other.post("/thing", content=b"{")).status_code == 400
        assert delayed() == mark
