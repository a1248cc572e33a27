"""Durable order placement over HTTP: 32 concurrent clients on one market.

The exchange runs as a real `python -m app serve` process; this process is the load
generator. Baseline, measured in the same run against the same Postgres: a minimal FastAPI
endpoint doing one INSERT and commit per request (`bench.baseline_app`), same client count.

    .venv/bin/python -m bench.orders_http [--clients 32] [--seconds 10]

Uses DATABASE_URL's server if set, else the embedded Postgres in .data/bench.
"""

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.auth.scopes import Scope
from app.auth.service import create_api_key
from app.auth.signing import sign
from app.config import PROJECT_ROOT
from app.kit.crypto import SecretBox
from app.ledger import service as L
from bench.common import describe, fresh_database, migrate

MID, TICK, LOT = 50_000_000, 1_000, 1_000_000


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, path: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + path, timeout=1).status_code in (200, 405):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("server not ready")


async def _seed(url: str, clients: int, secret_key: str) -> list[tuple[str, str]]:
    """A trading market SN1/TAO and `clients` funded users with a key each."""
    engine = create_async_engine(url)
    box = SecretBox(secret_key.encode())
    keys = []
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO subnets (netuid, registered_at, status, symbol, name, owner_coldkey, "
                "owner_hotkey, mechanism, tempo, tao_in, alpha_in, alpha_out, price_rao, "
                "moving_price_bits, volume, tao_in_emission, alpha_in_emission, "
                "alpha_out_emission, fee_rate, alpha_weight, first_seen_block, last_block) "
                "VALUES (1, 1, 'active', 'a', 'bench', 'o', 'h', 1, 360, 1, 1, 0, :p, 0, 0, 0, 0, "
                "0, 33, 500000000000000000, 1, 1)"
            ),
            {"p": MID},
        )
    from sqlalchemy.ext.asyncio import async_sessionmaker

    async with async_sessionmaker(engine, expire_on_commit=False)() as s:
        await L.ensure_asset(s, "SN1", "bench alpha", netuid=1)
        await s.execute(
            text(
                "INSERT INTO markets (symbol, base_asset, quote_asset, subnet_id, netuid, state, "
                "tick_size, lot_size, min_size, min_notional, maker_fee_bps, taker_fee_bps, "
                "price_band_bps) SELECT 'SN1/TAO', 'SN1', 'TAO', id, 1, 'trading', :t, :l, :l, "
                "0, 10, 20, 5000 FROM subnets"
            ),
            {"t": TICK, "l": LOT},
        )
        for i in range(clients):
            uid = int(
                await s.scalar(
                    text("INSERT INTO users (email) VALUES (:e) RETURNING id"), {"e": f"b{i}@x"}
                )
                or 0
            )
            for asset in ("TAO", "SN1"):
                custody = await L.system_account_id(s, asset, "custody")
                avail = await L.get_account_id(s, uid, asset, "available")
                await L.apply_batch(
                    s, [L.TransferSpec(f"seed:{uid}:{asset}", custody, avail, 10**15, "deposit")]
                )
            issued = await create_api_key(s, box, uid, [Scope.READ, Scope.TRADE])
            keys.append((issued.key, issued.secret))
        await s.commit()
    await engine.dispose()
    return keys


async def _load(
    clients: int,
    seconds: float,
    request: "Request",
    base: str,
) -> tuple[int, int, list[float]]:
    latencies: list[float] = []
    ok = failed = 0
    stop = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal ok, failed
        rng = random.Random(i)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                r = await request(http, i, rng)
                latencies.append(time.perf_counter() - start)
                if r.status_code in (200, 201):
                    ok += 1
                else:
                    failed += 1

    await asyncio.gather(*(worker(i) for i in range(clients)))
    return ok, failed, latencies


Request = Callable[[httpx.AsyncClient, int, random.Random], Awaitable[httpx.Response]]


def order_placer(keys: list[tuple[str, str]], spread_ticks: int) -> Request:
    """Client i places signed limit orders on SN1/TAO with key i, within `spread_ticks` of
    the mid, buys and sells alike (so about half of them trade)."""
    nonces = [time.time_ns() for _ in keys]

    async def place(http: httpx.AsyncClient, i: int, rng: random.Random) -> httpx.Response:
        key, secret = keys[i]
        nonces[i] += 1
        side = rng.choice(["buy", "sell"])
        price = MID + rng.randint(-spread_ticks, spread_ticks) * TICK
        qty = rng.randint(1, 50) * LOT
        body = (
            f'{{"nonce": {nonces[i]}, "market": "SN1/TAO", "side": "{side}", '
            f'"price": "{price}", "qty": "{qty}"}}'
        ).encode()
        headers = {
            "API-Key": key,
            "API-Sign": sign(secret, "/v1/orders", str(nonces[i]), body),
            "Content-Type": "application/json",
        }
        return await http.post("/v1/orders", content=body, headers=headers)

    return place


def start_exchange(
    database_url: str, secret_key: str, **env: str
) -> tuple[subprocess.Popen[bytes], str]:
    """A real `python -m app serve` on a free port (no indexer, no rate limit, quiet logs),
    ready; returns the process and its base URL. `env`: more EXCHANGE_* settings."""
    port = _port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url,
            "EXCHANGE_SECRET_KEY": secret_key,
            "EXCHANGE_INDEXER_ENABLED": "false",
            "EXCHANGE_LOG_LEVEL": "WARNING",
            "EXCHANGE_RATE_LIMIT_PER_SECOND": "1000000",
            "EXCHANGE_RATE_LIMIT_BURST": "1000000",
            **env,
        },
    )
    _wait_ready(base, "/ready", proc)
    return proc, base


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def main(clients: int, seconds: float) -> None:
    secret_key = Fernet.generate_key().decode()
    orders_url = await fresh_database("exchange_bench_orders")
    baseline_url = await fresh_database("exchange_bench_baseline")
    await asyncio.to_thread(migrate, orders_url)
    keys = await _seed(orders_url, clients, secret_key)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    # Baseline first.
    port = _port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.baseline_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        {**env, "BENCH_DATABASE_URL": baseline_url},
    )
    try:
        _wait_ready(base, "/insert", proc)

        async def insert(http: httpx.AsyncClient, i: int, rng: random.Random) -> httpx.Response:
            return await http.post("/insert", json={"client": str(i)})

        b_ok, b_failed, b_lat = await _load(clients, seconds, insert, base)
    finally:
        proc.terminate()
        proc.wait(10)

    proc, base = start_exchange(orders_url, secret_key)
    try:
        o_ok, o_failed, o_lat = await _load(clients, seconds, order_placer(keys, 5), base)
    finally:
        proc.terminate()
        proc.wait(15)

    b_rate, o_rate = b_ok / seconds, o_ok / seconds
    print(f"clients {clients}, {seconds:.0f} s each")
    print(f"baseline  INSERT+commit per request: {b_rate:8.0f} req/s  ({b_failed} failed)")
    print(f"          latency {describe(b_lat)}")
    print(f"orders    durable placement:          {o_rate:8.0f} ord/s  ({o_failed} failed)")
    print(f"          latency {describe(o_lat)}")
    print(f"ratio     orders / baseline:          {o_rate / b_rate:8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.seconds))
