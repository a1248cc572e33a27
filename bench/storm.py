"""Storms through the Kraken surface: how long until every request is answered, and how soon
after is the service serving again?

A real `python -m app serve` process. Storm 1: 60 concurrent `AddOrder`s, ample funds, one
market, one key each. Storm 2: 200 concurrent `AddOrder`s from one user, each needing more
than half of its TAO (a double-spend attempt: exactly one may succeed). After each storm:
the time until `/ready` and a private `Balance` answer. Baseline, measured in the same run:
the same `/ready` + `Balance` pair on the idle service.

    .venv/bin/python -m bench.storm

Uses DATABASE_URL's server if set, else the embedded Postgres in .data/bench.
"""

import asyncio
import time
from urllib.parse import urlencode

import httpx
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.auth.scopes import Scope
from app.auth.service import create_api_key
from app.auth.signing import sign
from app.kit.crypto import SecretBox
from bench.common import fresh_database, migrate
from bench.orders_http import MID, TICK, seed_market, start_exchange

Key = tuple[str, str]
_nonce = [time.time_ns()]


async def _keys(url: str, secret_key: str, user_email: str, n: int) -> list[Key]:
    from sqlalchemy import text

    engine = create_async_engine(url)
    box = SecretBox(secret_key.encode())
    out = []
    async with async_sessionmaker(engine)() as s:
        uid = int(await s.scalar(text("SELECT id FROM users WHERE email = :e"), {"e": user_email}))
        for _ in range(n):
            issued = await create_api_key(s, box, uid, [Scope.READ, Scope.TRADE])
            out.append((issued.key, issued.secret))
        await s.commit()
    await engine.dispose()
    return out


async def _private(http: httpx.AsyncClient, key: Key, method: str, **fields: str) -> dict:  # type: ignore[type-arg]
    path = f"/0/private/{method}"
    _nonce[0] += 1
    body = urlencode({"nonce": _nonce[0], **fields}).encode()
    headers = {
        "API-Key": key[0],
        "API-Sign": sign(key[1], path, str(_nonce[0]), body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    r = await http.post(path, content=body, headers=headers)
    return {"status": r.status_code, **r.json()}


async def _serving(base: str, key: Key) -> float:
    """Seconds until /ready and a private Balance both answer (a fresh connection)."""
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=300) as http:
        assert (await http.get("/ready")).status_code == 200
        assert (await _private(http, key, "Balance"))["error"] == []
    return time.perf_counter() - start


async def _storm(base: str, keys: list[Key], volume: str) -> tuple[float, list[dict]]:  # type: ignore[type-arg]
    limits = httpx.Limits(max_connections=len(keys) + 10)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as http:
        start = time.perf_counter()
        answers = await asyncio.gather(
            *(
                _private(
                    http,
                    k,
                    "AddOrder",
                    pair="SN1TAO",
                    type="buy",
                    ordertype="limit",
                    price=f"{(MID - (1 + i % 50) * TICK) / 1e9:.9f}",
                    volume=volume,
                )
                for i, k in enumerate(keys)
            )
        )
    return time.perf_counter() - start, answers


async def main() -> None:
    secret_key = Fernet.generate_key().decode()
    url = await fresh_database("exchange_bench_storm")
    await asyncio.to_thread(migrate, url)
    await seed_market(url, 2, secret_key)  # users b0@x (storm 1) and b1@x (storm 2), 10^15 rao each
    storm1 = await _keys(url, secret_key, "b0@x", 60)
    storm2 = await _keys(url, secret_key, "b1@x", 200)
    proc, base = start_exchange(url, secret_key)
    try:
        idle = min([await _serving(base, storm1[0]) for _ in range(5)])
        took1, answers1 = await _storm(base, storm1, "20")  # 20 alpha at ~0.05: 1 TAO
        after1 = await _serving(base, storm1[0])
        # 1.2e7 alpha at ~0.05 TAO is 6e5 TAO: more than half of 1e6 TAO.
        took2, answers2 = await _storm(base, storm2, "12000000")
        after2 = await _serving(base, storm2[0])
    finally:
        proc.terminate()
        proc.wait(15)

    def tally(answers: list[dict]) -> str:  # type: ignore[type-arg]
        counts: dict[str, int] = {}
        for a in answers:
            label = "ok" if not a["error"] else ",".join(a["error"])
            counts[label] = counts.get(label, 0) + 1
        return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))

    print(f"idle:    /ready + Balance answered in {idle * 1000:7.1f} ms (baseline)")
    print(f"storm 1: 60 AddOrders answered in {took1:6.2f} s   [{tally(answers1)}]")
    print(f"         serving again: /ready + Balance in {after1 * 1000:7.1f} ms"
          f"  ({after1 / idle:.1f}x idle)")  # fmt: skip
    print(f"storm 2: 200 AddOrders answered in {took2:5.2f} s   [{tally(answers2)}]")
    print(f"         serving again: /ready + Balance in {after2 * 1000:7.1f} ms"
          f"  ({after2 / idle:.1f}x idle)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
