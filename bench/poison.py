"""A poison sender next to an honest trader: how much does it slow the trader?

A real `python -m app serve` process with a deep book (3,000 resting orders). The honest
trader places limit orders on one connection, one after the other (as a trading bot does);
the poison sender, on its own connection, sends orders whose `market` holds a NUL byte (or
a lone surrogate, or a NUL in `client_order_id`), as fast as the answers come. Load comes
from `wrk` replaying pre-signed requests (bench/wrk), not from Python on the server's cores.

Baseline, measured in the same run: the honest trader alone, before and after.

    .venv/bin/python -m bench.poison [--seconds 10] [--resting 3000]

Uses DATABASE_URL's server if set, else the embedded Postgres in .data/bench.
"""

import argparse
import asyncio
import os
import random
import re
import tempfile
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from app.auth.signing import sign
from bench import wrk
from bench.common import fresh_database, migrate
from bench.orders_http import LOT, MID, TICK, seed_market, start_exchange

POISONS: list[dict[str, object]] = [
    {"market": "SN1\x00/TAO"},
    {"market": "SN1\ud800/TAO"},
    {"client_order_id": "poison\x00"},
]


def _honest(i: int, n: int) -> wrk.RequestSpec:
    """Immediate-or-cancel limits that find nothing to take: each is placed, funded, held,
    released and written, and the book does not grow from run to run."""
    side = "buy" if n % 2 else "sell"
    offset = (1 + n % 40) * TICK
    price = MID - offset if side == "buy" else MID + offset
    return "POST", "/v1/orders", {
        "market": "SN1/TAO", "side": side, "price": str(price), "qty": str(LOT * (1 + n % 7)),
        "time_in_force": "ioc",
    }  # fmt: skip


def _health(i: int, n: int) -> wrk.RequestSpec:
    """A control: valid requests as cheap as they come, at the same pace."""
    return "GET", "/health", {}


def _poison(i: int, n: int) -> wrk.RequestSpec:
    _, path, body = _honest(i, n)
    return "POST", path, {**body, **POISONS[n % len(POISONS)]}


async def _deep_book(base: str, key: tuple[str, str], resting: int) -> None:
    """`resting` orders far from the mid on both sides, placed 15 per request."""
    rng = random.Random(7)
    nonce = 0
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for start in range(0, resting, 15):
            orders = []
            for j in range(min(15, resting - start)):
                side = "buy" if (start + j) % 2 else "sell"
                offset = rng.randint(200, 2000) * TICK
                price = MID - offset if side == "buy" else MID + offset
                orders.append(
                    {"market": "SN1/TAO", "side": side, "price": str(price), "qty": str(LOT)}
                )
            nonce += 1
            body = httpx.Request("POST", "/", json={"nonce": nonce, "orders": orders}).content
            r = await http.post(
                "/v1/orders/batch",
                content=body,
                headers={
                    "API-Key": key[0],
                    "API-Sign": sign(key[1], "/v1/orders/batch", str(nonce), body),
                    "Content-Type": "application/json",
                },
            )
            assert r.status_code == 201, r.text


async def _rebuilds(base: str) -> str:
    async with httpx.AsyncClient(base_url=base) as http:
        text = (await http.get("/metrics")).text
    found = re.findall(r'^sequencer_rebuilds_total\{scope="(\w+)"\} (\S+)$', text, re.M)
    return ", ".join(f"{scope} {float(n):.0f}" for scope, n in found) or "none"


FLOODS = {"poison": _poison, "health": _health}


async def main(seconds: float, resting: int, rounds: int, flood: str) -> None:
    wrk.require_wrk()
    secret_key = Fernet.generate_key().decode()
    url = await fresh_database("exchange_bench_poison")
    await asyncio.to_thread(migrate, url)
    keys = await seed_market(url, 5, secret_key)  # maker, honest x3 (one per run), poison
    proc, base = start_exchange(url, secret_key)
    try:
        await _deep_book(base, keys[0], resting)
        per_connection = int(seconds * 3000)
        with tempfile.TemporaryDirectory() as tmp:
            folders = {name: Path(tmp) / name for name in ("a", "b", "c", "poison")}
            for name, key in zip(("a", "b", "c"), keys[1:4], strict=True):
                wrk.write_requests(folders[name], [key], per_connection, _honest)
            wrk.write_requests(folders["poison"], [keys[4]], per_connection, _poison)

            # Alone, beside poison, alone, beside poison, alone: each run beside poison is
            # compared with the runs alone on either side of it (history grows meanwhile).
            alone: list[wrk.WrkResult] = []
            beside: list[tuple[wrk.WrkResult, wrk.WrkResult]] = []
            for round_ in range(rounds):
                wrk.write_requests(folders["a"], [keys[1 + round_ % 3]], per_connection, _honest)
                alone.append(await wrk.run(base, folders["a"], 1, seconds))
                if round_ == rounds - 1:
                    break
                wrk.write_requests(
                    folders["b"], [keys[1 + (round_ + 1) % 3]], per_connection, _honest
                )
                flood = _health if os.environ.get("BENCH_FLOOD") == "health" else _poison
                wrk.write_requests(folders["poison"], [keys[4]], per_connection, flood)
                beside.append(
                    await asyncio.gather(
                        wrk.run(base, folders["b"], 1, seconds),
                        wrk.run(base, folders["poison"], 1, seconds),
                    )
                )
        rebuilds = await _rebuilds(base)
    finally:
        proc.terminate()
        proc.wait(15)

    print(f"book: {resting} resting orders; {seconds:g} s per run; one connection each")
    ratios = []
    for n, (honest, poison) in enumerate(beside):
        left, right = alone[n], alone[n + 1]
        baseline = (left.rate(201) + right.rate(201)) / 2
        ratios.append(honest.rate(201) / baseline)
        print(f"honest alone          {left.rate(201):8.1f} orders/s  p50 {left.p50_ms:.1f} ms")
        print(
            f"honest beside poison  {honest.rate(201):8.1f} orders/s  p50 {honest.p50_ms:.1f} ms"
            f"  (non-201: {sum(honest.statuses.values()) - honest.count(201)})"
        )
        print(
            f"  poison sender       {poison.rate(400):8.1f} refusals/s  answers {poison.statuses}"
        )
    last = alone[-1]
    print(f"honest alone          {last.rate(201):8.1f} orders/s  p50 {last.p50_ms:.1f} ms")
    print(f"sequencer rebuilds    {rebuilds} (one 'all' is the start-up load)")
    print("ratio beside poison / alone (each vs its neighbours): "
          + ", ".join(f"{r:.2f}" for r in ratios))  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--resting", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3, help="runs alone (poison between)")
    parser.add_argument(
        "--flood", choices=sorted(FLOODS), default="poison", help="health: valid cheap requests"
    )
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.resting, args.rounds, args.flood))
