"""Durable order placement over HTTP: 32 connections on one market, load from `wrk`.

The exchange runs as a real `python -m app serve` process; the load comes from `wrk`
(Debian's package: `apt-get install wrk`) replaying pre-signed requests, one API key per
connection (`bench/wrk`), so the load generator is not the bottleneck. Baselines, measured
in the same run with the same wrk: a hello-world FastAPI app (`bench.hello_app`) and a
FastAPI endpoint doing one INSERT and commit per request (`bench.baseline_app`), against
the same Postgres. Prints the order rate, its rate per second over the run (does it decay
as history grows?), latency p50/p99, the ratios, `ledger check` after the run, and for each
of the three runs the CPU per answer of the server, Postgres and wrk, the cores they kept
busy, and the rate that CPU per answer allows with every core busy (no scheduling passes
it: what the order path could reach by using both cores, and what it must shed beyond that).

    .venv/bin/python -m bench.orders_http [--clients 32] [--seconds 60] [--baseline-seconds 15]

Uses DATABASE_URL's server if set, else the embedded Postgres in .data/bench.
"""

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

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
from bench import wrk
from bench.common import fresh_database, migrate

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


async def seed_market(url: str, clients: int, secret_key: str) -> list[tuple[str, str]]:
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
                "alpha_out_emission, fee_rate, quote_weight, first_seen_block, last_block) "
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


# ---------------------------------------------------------------------------- the wrk bench


def limit_near_mid(spread_ticks: int) -> Callable[[int, int], wrk.RequestSpec]:
    """Connection i's n-th order: a limit within `spread_ticks` of the mid, buys and sells
    alike (so about half of them trade)."""

    def make(i: int, n: int) -> wrk.RequestSpec:
        rng = random.Random(i * 1_000_003 + n)
        side = rng.choice(["buy", "sell"])
        price = MID + rng.randint(-spread_ticks, spread_ticks) * TICK
        body = {"market": "SN1/TAO", "side": side, "price": str(price)}
        return "POST", "/v1/orders", {**body, "qty": str(rng.randint(1, 50) * LOT)}

    return make


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_pids() -> list[int]:
    """The embedded Postgres' processes (the postmaster and its children); [] if external."""
    pid_file = PROJECT_ROOT / ".data" / "bench" / "postmaster.pid"
    if os.environ.get("DATABASE_URL") or not pid_file.exists():
        return []
    postmaster = int(pid_file.read_text().split()[0])
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == postmaster:
                pids.append(int(entry))
    return pids


def _postgres_cpu() -> float:
    total = 0.0
    for pid in _postgres_pids():
        with contextlib.suppress(OSError):  # a backend that ended meanwhile
            total += _cpu_seconds(pid)
    return total


Sample = dict[str, float]  # metric line (name and labels) -> value


async def _sample_metrics(
    base: str, server_pid: int, stop: asyncio.Event, every: float = 1.0
) -> list[Sample]:
    """The server's order and sequencer counters, and the CPU seconds of the server and of
    Postgres so far, sampled every second."""
    wanted = (
        'http_requests_total{method="POST",route="/v1/orders",status="201"}',
        "sequencer_group_seconds_total",
        "sequencer_group_size_count",
        "sequencer_group_size_sum",
    )
    samples: list[Sample] = []
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        while not stop.is_set():
            sample: Sample = {}
            for line in (await http.get("/metrics")).text.splitlines():
                if line.startswith(wanted):
                    name, _, value = line.rpartition(" ")
                    sample[name] = float(value)
            sample["cpu:server"], sample["cpu:postgres"] = _cpu_seconds(server_pid), _postgres_cpu()
            samples.append(sample)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    return samples


def _window(samples: list[Sample], start: int, end: int) -> str:
    """Per group in samples[start:end]: size and milliseconds by phase; per order, the CPU of
    the server and of Postgres (which of them grows with history?)."""
    a, b = samples[start], samples[end]
    key = 'http_requests_total{method="POST",route="/v1/orders",status="201"}'
    placed = b.get(key, 0) - a.get(key, 0)
    cpu = (
        "; CPU per order: server {:.0f} us, Postgres {:.0f} us".format(
            *((b[k] - a[k]) / placed * 1e6 for k in ("cpu:server", "cpu:postgres"))
        )
        if placed > 0
        else ""
    )
    groups = b.get("sequencer_group_size_count", 0) - a.get("sequencer_group_size_count", 0)
    if groups <= 0:
        return "no groups"
    size = (b.get("sequencer_group_size_sum", 0) - a.get("sequencer_group_size_sum", 0)) / groups
    phases = []
    for name in sorted(b):
        if name.startswith("sequencer_group_seconds_total"):
            phase = name.split('phase="', 1)[1].split('"', 1)[0]
            ms = (b[name] - a.get(name, 0)) / groups * 1000
            phases.append(f"{phase} {ms:.1f}")
    return f"{groups:.0f} groups of {size:.1f} commands; ms per group: " + ", ".join(phases) + cpu


@dataclass
class Run:
    """One wrk run and the CPU seconds each side spent on it."""

    result: wrk.WrkResult
    server_cpu: float
    postgres_cpu: float

    def per_request_us(self, status: int) -> tuple[float, float, float]:
        """CPU microseconds per answer of `status`: server, Postgres, wrk."""
        per = 1e6 / max(1, self.result.count(status))
        return self.server_cpu * per, self.postgres_cpu * per, self.result.cpu_seconds * per


def _cpu_table(runs: list[tuple[str, Run, int]], cores: int) -> list[str]:
    """CPU per request of each run, the cores it kept busy, and the rate its CPU per request
    would allow with every core busy (the bound no scheduling can pass)."""
    lines = [
        f"CPU per answer (us)      server  Postgres     wrk    total   cores busy   "
        f"bound on {cores} cores"
    ]
    for name, run, status in runs:
        server, postgres, load = run.per_request_us(status)
        total = server + postgres + load
        busy = (run.server_cpu + run.postgres_cpu + run.result.cpu_seconds) / run.result.seconds
        lines.append(
            f"{name:22} {server:8.0f} {postgres:9.0f} {load:7.0f} {total:8.0f} {busy:12.2f} "
            f"{cores / total * 1e6:11.0f}/s"
        )
    return lines


def _uvicorn(app: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(
        [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--log-level", "warning"],
        {**os.environ, **env},
    )
    return proc, base


async def _baseline(
    app: str, path: str, method: str, env: dict[str, str], folder: Path, connections: int,
    seconds: float,
) -> Run:  # fmt: skip
    proc, base = _uvicorn(app, env)
    try:
        _wait_ready(base, path, proc)
        keys = [("-", "-")] * connections
        body: dict[str, object] = {"client": "wrk"} if method == "POST" else {}
        wrk.write_requests(folder, keys, 1, lambda i, n: (method, path, body), signed=False)
        server, postgres = _cpu_seconds(proc.pid), _postgres_cpu()
        result = await wrk.run(base, folder, connections, seconds, cycle=True)
        server, postgres = _cpu_seconds(proc.pid) - server, _postgres_cpu() - postgres
        return Run(result, server, postgres)
    finally:
        proc.terminate()
        proc.wait(10)


async def _profile(pid: int, seconds: float, out: Path) -> None:
    """py-spy (a dev dependency) samples the server for `seconds`: collapsed stacks."""
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("py-spy")),
        "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250", "--gil",
        "--format", "raw", "--output", str(out), "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await proc.wait()


PROFILE = PROJECT_ROOT / ".data" / "bench-profile.txt"


def _print_profile(path: Path, top: int = 25) -> None:
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        total += n
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
    for title, table in (("self", own), ("inclusive", inclusive)):
        print(f"profile, top {top} by {title} time ({total} samples):")
        for frame, n in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {100 * n / total:5.1f}%  {frame}")


async def _vacuums(url: str, since: float) -> str:
    """Which tables autovacuum processed during the run, and when (s after its start): the
    order rate's steps often line up with them."""
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT relname, extract(epoch FROM last_autovacuum)::float8 "
                    "FROM pg_stat_user_tables WHERE last_autovacuum IS NOT NULL "
                    "ORDER BY last_autovacuum"
                )
            )
        ).all()
    await engine.dispose()
    return ", ".join(f"{name} {at - since:.0f}" for name, at in rows if at >= since) or "none"


async def main(clients: int, seconds: float, baseline_seconds: float, profile: bool) -> None:
    wrk.require_wrk()
    secret_key = Fernet.generate_key().decode()
    orders_url = await fresh_database("exchange_bench_orders")
    baseline_url = await fresh_database("exchange_bench_baseline")
    await asyncio.to_thread(migrate, orders_url)
    keys = await seed_market(orders_url, clients, secret_key)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        hello = await _baseline(
            "bench.hello_app:app", "/hello", "GET", {}, folder / "hello", clients,
            baseline_seconds,
        )  # fmt: skip
        insert = await _baseline(
            "bench.baseline_app:app", "/insert", "POST", {"BENCH_DATABASE_URL": baseline_url},
            folder / "insert", clients, baseline_seconds,
        )  # fmt: skip
        # Enough pre-signed orders for the run at up to 3,000 orders/s.
        per_connection = int(seconds * 3000 / clients) + 100
        wrk.write_requests(folder / "orders", keys, per_connection, limit_near_mid(5))
        proc, base = start_exchange(orders_url, secret_key)
        try:
            stop = asyncio.Event()
            sampler = asyncio.create_task(_sample_metrics(base, proc.pid, stop))
            server_cpu, pg_cpu = _cpu_seconds(proc.pid), _postgres_cpu()
            started = time.time()
            profiling = (
                asyncio.create_task(_profile(proc.pid, seconds - 2, PROFILE)) if profile else None
            )
            result = await wrk.run(base, folder / "orders", clients, seconds)
            if profiling is not None:
                await profiling
                _print_profile(PROFILE)
                print(f"(collapsed stacks in {PROFILE})")
            server_cpu, pg_cpu = _cpu_seconds(proc.pid) - server_cpu, _postgres_cpu() - pg_cpu
            orders = Run(result, server_cpu, pg_cpu)
            stop.set()
            samples = await sampler
        finally:
            proc.terminate()
            proc.wait(15)
    check = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app", "ledger", "check"],
        env={**os.environ, "DATABASE_URL": orders_url},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    acked = result.count(201)
    vacuumed = await _vacuums(orders_url, started)
    key = 'http_requests_total{method="POST",route="/v1/orders",status="201"}'
    counts = [int(x.get(key, 0)) for x in samples]
    per_second = [b - a for a, b in itertools.pairwise(counts)]
    first, last = per_second[:10], per_second[-10:]
    rate = acked / seconds
    print(f"{clients} connections (one API key each), wrk; baselines {baseline_seconds:g} s, "
          f"orders {seconds:g} s")  # fmt: skip
    for name, baseline in (("hello-world", hello.result), ("INSERT+commit", insert.result)):
        print(f"{name:20} {baseline.rate(200):9.0f} req/s   p50 {baseline.p50_ms:6.1f} ms  "
              f"p99 {baseline.p99_ms:6.1f} ms   answers {baseline.statuses}")  # fmt: skip
    print(f"durable orders       {rate:9.0f} ord/s   p50 {result.p50_ms:6.1f} ms  "
          f"p99 {result.p99_ms:6.1f} ms")  # fmt: skip
    print(f"                     {acked} acknowledged; answers by status {result.statuses}")
    if first and last:
        decay = sum(last) / max(1, sum(first))
        print(f"per second: first 10 s {sum(first) / len(first):.0f}/s, last 10 s "
              f"{sum(last) / len(last):.0f}/s ({decay:.2f} of the first)")  # fmt: skip
        print("per second: " + " ".join(str(n) for n in per_second))
        for start in range(0, len(samples) - 1, 10):
            end = min(start + 10, len(samples) - 1)
            print(f"sequencer {start:3d}-{end:3d} s: {_window(samples, start, end)}")
    print(f"autovacuum during the run (s after its start): {vacuumed}")
    cores = os.cpu_count() or 1
    runs = [
        ("hello-world", hello, 200),
        ("INSERT+commit", insert, 200),
        ("durable orders", orders, 201),
    ]
    for line in _cpu_table(runs, cores):
        print(line)
    if not _postgres_pids():
        print("(Postgres is external: its CPU is not counted)")
    if profile:
        print("(with --profile the orders' wrk column includes py-spy's CPU)")
    hello_rate, insert_rate = hello.result.rate(200), insert.result.rate(200)
    print(f"ratio orders / INSERT+commit: {rate / insert_rate:.2f}; "
          f"orders / hello-world: {rate / hello_rate:.3f}")  # fmt: skip
    if acked:
        bound = cores / sum(orders.per_request_us(201)) * 1e6
        print(f"at the orders' CPU per order with all {cores} cores busy: {bound:.0f} ord/s = "
              f"{bound / insert_rate:.2f} x INSERT+commit, "
              f"{bound / hello_rate:.3f} x hello-world")  # fmt: skip
    print("ledger check: " + (check.stdout.strip().splitlines() or ["?"])[-1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--profile", action="store_true", help="py-spy the server (slower)")
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.seconds, args.baseline_seconds, args.profile))
