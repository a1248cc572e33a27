"""Order throughput with 1,000 WebSocket subscribers: one process vs the scale-out roles.

Two deployments on the same database server, in the same run:
- `all`: one `python -m app serve` (HTTP, sequencer and WebSocket fan-out share a process);
- cluster: an embedded NATS server, one `sequencer`, one `api` and two `gateway`
  processes; the subscribers connect to the gateways (half each), the orders go to the api.

For each: the order rate of the same flow (`--traders` clients of crossing limit orders,
about half trade) without subscribers (the mean of a window before and one after), and
with `--subscribers` subscribed to `book` and
`trades` of SN1/TAO (worker processes of `bench.marketdata_ws`: raw WebSocket clients that
parse frame headers and check book sequences, every tenth also timing its trades), the
ratio of the two, the messages delivered, the match -> delivery delay (p50/p99, from each
trade's engine timestamp to its receipt) and the CPU seconds of each group of processes
(roles, NATS, Postgres, the order flow's load generator, the subscribers) in both windows.

The feed runs with an update per committed group (`EXCHANGE_WS_BATCH_MS=0`, the single
process's default), and with batches of `--batch-ms` (the gateways' setting in
docker-compose.yml): a market's changes over that interval as one update.

    .venv/bin/python -m bench.scaleout [--subscribers 1000] [--procs 4] [--seconds 10]
        [--batch-ms 100] [--only SUBSTRING]

Uses DATABASE_URL's server if set, else the embedded Postgres in .data/bench. On one
two-core machine every process (Postgres, NATS, the roles, the subscribers and the load)
shares the same cores: the cluster's point, gateways on other machines, shows only partly.
So each deployment is also measured with the subscribers (the load generator, which would
be other machines) at `nice 19`, and the cluster once more with its gateways at `nice 19`
too, standing for gateways on machines of their own (the order path gets the cores first).
"""

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from app.kit.embedded_nats import EmbeddedNats
from bench.common import fresh_database, migrate, percentile
from bench.marketdata_ws import Subscribers, _order_flow
from bench.orders_http import (
    _cpu_seconds,
    _port,
    _postgres_pids,
    _start,
    _wait_ready,
    seed_market,
    start_exchange,
)


def _role(
    role: str,
    url: str,
    secret_key: str,
    nats_url: str,
    prefix: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> tuple[Any, str]:
    port = _port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(
        [*prefix, sys.executable, "-m", "app", "serve", "--port", str(port)],
        {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": url,
            "NATS_URL": nats_url,
            "EXCHANGE_ROLE": role,
            "EXCHANGE_SECRET_KEY": secret_key,
            "EXCHANGE_INDEXER_ENABLED": "false",
            "EXCHANGE_LOG_LEVEL": "WARNING",
            "EXCHANGE_RATE_LIMIT_PER_SECOND": "1000000",
            "EXCHANGE_RATE_LIMIT_BURST": "1000000",
            **(env or {}),
        },
    )
    _wait_ready(base, "/ready", proc)
    return proc, base


def _cpu_now(pids: dict[str, list[int]]) -> dict[int, float]:
    """CPU seconds so far of every process in the groups that is still running."""
    now: dict[int, float] = {}
    for group in pids.values():
        for pid in group:
            with contextlib.suppress(OSError):
                now[pid] = _cpu_seconds(pid)
    return now


def _cpu_since(pids: dict[str, list[int]], since: dict[int, float]) -> dict[str, float]:
    """What each group used after `since` (a process that ended meanwhile is left out, one
    that started counts whole)."""
    now = _cpu_now(pids)
    return {
        name: sum(now[p] - since.get(p, 0.0) for p in group if p in now)
        for name, group in pids.items()
    }


async def _measure(
    api: str,
    gateways: list[str],
    keys: list[tuple[str, str]],
    args: argparse.Namespace,
    prefix: tuple[str, ...] = (),
    pids: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """Windows of the order flow, after a warm-up, alternately without and with the
    subscribers subscribed (connected all along; each switch waits for the server's
    acknowledgements), `--rounds` of each, beginning and ending without: the rate drifts as
    the book and the tables grow, and both kinds of window see the same history around
    them on average."""
    pools = []
    for i, gateway in enumerate(gateways):
        share = args.subscribers // len(gateways) + (i < args.subscribers % len(gateways))
        procs = max(1, args.procs // len(gateways))
        pools.append(await Subscribers.start(f"{gateway}/v1/ws", share, procs, prefix))
    pids = {
        **(pids or {}),
        "load": [os.getpid()],
        "postgres": _postgres_pids(),
        "subscribers": [pid for pool in pools for pid in pool.pids],
    }
    rates: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, dict[str, float]] = {False: {}, True: {}}
    failed = 0
    stats: list[dict[str, Any]] = []
    await _order_flow(api, keys, args.seconds)  # a warm-up: the first seconds run fastest
    for loaded in [False, True] * args.rounds + [False]:
        if loaded:
            for pool in pools:
                await pool.subscribe()
                await pool.tell("go")
        before = _cpu_now(pids)
        ok, bad = await _order_flow(api, keys, args.seconds)
        for name, seconds in _cpu_since(pids, before).items():
            cpu[loaded][name] = cpu[loaded].get(name, 0.0) + seconds
        rates[loaded].append(ok / args.seconds)
        if loaded:
            failed += bad
            for pool in pools:
                stats += await pool.stats()
                await pool.subscribe("unsubscribe")
    for pool in pools:
        await pool.close()
    delays = [d / 1e9 for s in stats for d in s["delays"]]
    windows = {k: len(v) for k, v in rates.items()}
    return {
        "quiet": sum(rates[False]) / len(rates[False]),
        "loaded": sum(rates[True]) / len(rates[True]),
        "windows": rates,
        "failed": failed,
        "messages": sum(s["messages"] for s in stats) / (windows[True] * args.seconds),
        "gaps": sum(s["gaps"] for s in stats),
        "closed": sum(s["closed"] for s in stats),
        "p50": percentile(delays, 50) * 1000 if delays else float("nan"),
        "p99": percentile(delays, 99) * 1000 if delays else float("nan"),
        "trades": len(delays),
        "cpu": {  # per window
            k: (cpu[False].get(k, 0.0) / windows[False], v / windows[True])
            for k, v in cpu[True].items()
        },
    }


async def main(args: argparse.Namespace) -> None:
    secret_key = Fernet.generate_key().decode()
    print(
        f"{args.subscribers} subscribers (book + trades of SN1/TAO) in {args.procs} processes; "
        f"order flow {args.traders} clients; windows of {args.seconds:.0f} s after a warm-up: "
        f"{args.rounds + 1} without and {args.rounds} with subscribers, alternately",
        flush=True,
    )
    results: dict[str, dict[str, Any]] = {}

    batch = f"batches of {args.batch_ms:g} ms"
    runs: list[tuple[str, bool, float, tuple[str, ...], tuple[str, ...]]] = [
        # name, cluster?, batch ms, gateways' prefix, subscribers' prefix
        ("one process (all), an update per group", False, 0, (), ()),
        (f"one process (all), {batch}", False, args.batch_ms, (), ()),
        (f"one process (all), {batch}, subscribers at nice 19", False, args.batch_ms, (), NICE),
        (f"cluster (sequencer, api, 2 gateways), {batch}", True, args.batch_ms, (), ()),
        (
            f"cluster (sequencer, api, 2 gateways), {batch}, subscribers at nice 19",
            True, args.batch_ms, (), NICE,
        ),
        (
            f"cluster (sequencer, api, 2 gateways), {batch}, gateways and subscribers at nice 19",
            True, args.batch_ms, NICE, NICE,
        ),
    ]  # fmt: skip
    for name, cluster, batch_ms, gateways, clients in runs:
        if args.only not in name:
            continue
        env = {"EXCHANGE_WS_BATCH_MS": f"{batch_ms:g}"}
        if cluster:
            results[name] = await _cluster(args, secret_key, gateways, clients, env)
        else:
            results[name] = await _one_process(args, secret_key, clients, env)
        _report(args, {name: results[name]})  # as it comes: a run takes minutes


async def _one_process(
    args: argparse.Namespace, secret_key: str, clients: tuple[str, ...], env: dict[str, str]
) -> dict[str, Any]:
    url = await fresh_database("exchange_bench_scaleout_all")
    await asyncio.to_thread(migrate, url)
    keys = await seed_market(url, args.traders, secret_key)
    proc, base = start_exchange(url, secret_key, **env)
    try:
        return await _measure(
            base, [base.replace("http", "ws")], keys, args, clients, {"exchange": [proc.pid]}
        )
    finally:
        proc.terminate()
        _stop(proc)


NICE = ("nice", "-n", "19")


async def _cluster(
    args: argparse.Namespace,
    secret_key: str,
    prefix: tuple[str, ...],
    clients: tuple[str, ...],
    env: dict[str, str],
) -> dict[str, Any]:
    url = await fresh_database("exchange_bench_scaleout_cluster")
    await asyncio.to_thread(migrate, url)
    keys = await seed_market(url, args.traders, secret_key)
    with tempfile.TemporaryDirectory() as tmp:
        nats = EmbeddedNats(Path(tmp) / "nats")
        nats.start()
        procs: list[Any] = []
        try:
            sequencer, _ = _role("sequencer", url, secret_key, nats.url)
            procs.append(sequencer)
            api, api_base = _role("api", url, secret_key, nats.url)
            procs.append(api)
            gateways = []
            for _ in range(2):
                gateway, gateway_base = _role("gateway", url, secret_key, nats.url, prefix, env)
                procs.append(gateway)
                gateways.append(gateway_base.replace("http", "ws"))
            roles = {
                "sequencer": [sequencer.pid],
                "api": [api.pid],
                "gateways": [p.pid for p in procs[2:]],
                "nats": [nats.process.pid] if nats.process else [],
            }
            return await _measure(api_base, gateways, keys, args, clients, roles)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                _stop(p)
            nats.stop()


def _stop(proc: Any) -> None:
    """Wait for a SIGTERMed role; one that has not stopped within 30 s is killed (said)."""
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        print(f"  ({' '.join(proc.args[-4:])} did not stop within 30 s: killed)", flush=True)
        proc.kill()
        proc.wait()


def _report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    for name, r in results.items():
        print(f"{name}:")
        print(
            f"  orders/s without subscribers {r['quiet']:5.0f} "
            f"({' '.join(f'{x:.0f}' for x in r['windows'][False])}), "
            f"with them {r['loaded']:5.0f} ({' '.join(f'{x:.0f}' for x in r['windows'][True])}) "
            f"({r['failed']} failed): ratio {r['loaded'] / r['quiet']:.2f}"
        )
        print(
            f"  delivered {r['messages']:9.0f} msg/s ({r['gaps']} sequence gaps, "
            f"{r['closed']} disconnected); match -> delivery p50 {r['p50']:.1f} ms, "
            f"p99 {r['p99']:.1f} ms over {r['trades']} trade deliveries (every 10th "
            "subscriber's)"
        )
        cpu = ", ".join(f"{k} {q:.1f} -> {v:.1f}" for k, (q, v) in r["cpu"].items())
        print(f"  CPU s per window without -> with subscribers: {cpu}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--traders", type=int, default=8, help="order-flow clients")
    parser.add_argument("--only", default="", help="the deployments whose name has this")
    parser.add_argument("--rounds", type=int, default=3, help="windows with subscribers")
    parser.add_argument(
        "--batch-ms", type=float, default=100.0, help="EXCHANGE_WS_BATCH_MS of the batched runs"
    )
    asyncio.run(main(parser.parse_args()))
