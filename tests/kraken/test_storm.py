"""Storms through the Kraken surface against a real server process: the service answers
every request, keeps its money right, and is serving again right after.

The post-storm probes use a short client timeout: it is a liveness deadline (the service
answers at all), not a performance figure; the throughput figures live in bench/."""

import asyncio
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.auth.scopes import Scope
from app.auth.service import create_api_key
from app.auth.signing import sign
from app.kit.crypto import SecretBox
from tests.conftest import SERVER_KEY
from tests.kraken.conftest import LOT, PRICE, TICK, Env, Key
from tests.orders.conftest import ledger_ok
from tests.signing import next_nonce

pytestmark = pytest.mark.acceptance  # a real server or CLI process: see pyproject.toml

SERVING_DEADLINE = 5.0  # seconds within which the service must answer again


async def _more_keys(engine: AsyncEngine, user_id: int, n: int) -> list[Key]:
    box = SecretBox(SERVER_KEY.encode())
    out = []
    async with async_sessionmaker(engine)() as s:
        for _ in range(n):
            issued = await create_api_key(s, box, user_id, [Scope.READ, Scope.TRADE])
            out.append(Key(issued.key, issued.secret, user_id))
        await s.commit()
    return out


async def _private(http: httpx.AsyncClient, key: Key, method: str, **fields: str) -> dict:  # type: ignore[type-arg]
    path = f"/0/private/{method}"
    nonce = next_nonce()
    body = urlencode({"nonce": nonce, **fields}).encode()
    headers = {
        "API-Key": key.key,
        "API-Sign": sign(key.secret, path, str(nonce), body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    r = await http.post(path, content=body, headers=headers)
    return {"status": r.status_code, **r.json()}


async def _serving(env: Env, key: Key) -> None:
    """/ready and a private read answer within the deadline."""
    async with httpx.AsyncClient(base_url=env.url, timeout=SERVING_DEADLINE) as http:
        ready = await http.get("/ready")
        assert ready.status_code == 200, ready.text
        balance = await _private(http, key, "Balance")
        assert balance["error"] == [], balance


async def _open_orders(engine: AsyncEngine, user_id: int) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                text("SELECT count(*) FROM orders WHERE user_id = :u AND status = 'open'"),
                {"u": user_id},
            )
            or 0
        )


async def test_sixty_concurrent_add_orders_all_answer_and_the_service_keeps_serving(
    kraken: Env, engine: AsyncEngine
) -> None:
    alice = kraken.keys["alice"]
    keys = await _more_keys(engine, alice.user_id, 60)
    before = await _open_orders(engine, alice.user_id)
    async with httpx.AsyncClient(
        base_url=kraken.url, timeout=60, limits=httpx.Limits(max_connections=100)
    ) as http:
        answers = await asyncio.gather(
            *(
                _private(
                    http,
                    k,
                    "AddOrder",
                    pair="SN1TAO",
                    type="buy",
                    ordertype="limit",
                    price=f"{(PRICE - (i + 1) * TICK) / 1e9:.9f}",
                    volume=f"{(20 * LOT) / 1e9:.9f}",
                )
                for i, k in enumerate(keys)
            )
        )
    assert all(a["error"] == [] for a in answers), [a for a in answers if a["error"]][:3]
    assert len({a["result"]["txid"][0] for a in answers}) == 60
    await _serving(kraken, alice)
    assert await _open_orders(engine, alice.user_id) == before + 60
    await ledger_ok(engine)
    async with httpx.AsyncClient(base_url=kraken.url, timeout=SERVING_DEADLINE) as http:
        assert (await _private(http, alice, "CancelAll"))["result"]["count"] >= 60


async def test_double_spend_storm_of_200_spends_once_and_the_service_keeps_serving(
    kraken: Env, engine: AsyncEngine
) -> None:
    poor = kraken.keys["poor"]  # 0.01 TAO: enough for exactly one of these orders
    keys = await _more_keys(engine, poor.user_id, 200)
    async with httpx.AsyncClient(
        base_url=kraken.url, timeout=60, limits=httpx.Limits(max_connections=250)
    ) as http:
        answers = await asyncio.gather(
            *(
                _private(
                    http,
                    k,
                    "AddOrder",
                    pair="SN1TAO",
                    type="buy",
                    ordertype="limit",
                    price=f"{(PRICE - TICK) / 1e9:.9f}",
                    volume=f"{(150 * LOT) / 1e9:.9f}",  # 0.15 alpha * 0.049999 = 0.0075 TAO
                )
                for k in keys
            )
        )
    ok = [a for a in answers if a["error"] == []]
    refused = [a for a in answers if a["error"]]
    assert len(ok) == 1, ok[:3]
    assert {e for a in refused for e in a["error"]} <= {
        "EOrder:Insufficient funds",
        "EAPI:Rate limit exceeded",
    }
    await _serving(kraken, poor)
    assert await _open_orders(engine, poor.user_id) == 1
    await ledger_ok(engine)
    async with httpx.AsyncClient(base_url=kraken.url, timeout=SERVING_DEADLINE) as http:
        assert (await _private(http, poor, "CancelAll"))["result"]["count"] == 1
