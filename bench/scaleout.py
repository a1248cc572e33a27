"""Order throughput with 1,000 WebSocket subscribers: one process vs the scale-out roles.

Two deployments on the same database server, in the same run:
- `all`: one `python -m app serve` (HTTP, sequencer and WebSocket fan-out share a process);
- cluster: an embedded NATS server, one `sequencer`, one `api` and two `gateway`
  processes; the subscribers connect to the gateways (half each), the orders go to the api.

For each: the order rate of the same flow (`--traders` clients of crossing limit orders,
about half trade) without subscribers, then with `--subscribers` subscribed to `book` and
`trades` of SN1/TAO (worker processes of `bench.marketdata_ws`), the ratio of the two, the
messages delivered and the match -> delivery delay (p50/p99, from each trade's engine
timestamp to its receipt).

    .venv/bin/python -m bench.scaleout [--subscribers 1000] [--procs 4] [--seconds 10]

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
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from app.kit.embedded_nats import EmbeddedNats
from bench.common import fresh_database, migrate, percentile
from bench.marketdata_ws import _order_flow, _spawn_workers
from bench.orders_http import (
    _cpu_seconds,
    _port,
    _postgres_pids,
    _seed,
    _start,
    _wait_ready,
    start_exchange,
)


def _role(
    role: str, url: str, secret_key: str, nats_url: str, prefix: tuple[str, ...] = ()
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
        },
    )
    _wait_ready(base, "/ready", proc)
    return proc, base


def _cpu(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far per group of processes (a process that ended counts 0)."""
    out: dict[str, float] = {}
    for name, group in pids.items():
        total = 0.0
        for pid in group:
            with contextlib.suppress(OSError):
                total += _cpu_seconds(pid)
        out[name] = total
    return out


async def _measure(
    api: str,
    gateways: list[str],
    keys: list[tuple[str, str]],
    args: argparse.Namespace,
    prefix: tuple[str, ...] = (),
    pids: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    pids = {**(pids or {}), "load": [os.getpid()], "postgres": _postgres_pids()}
    before = _cpu(pids)
    quiet, _ = await _order_flow(api, keys, args.seconds)
    quiet_cpu = {k: v - before[k] for k, v in _cpu(pids).items()}
    workers = []
    for i, gateway in enumerate(gateways):
        share = args.subscribers // len(gateways) + (i < args.subscribers % len(gateways))
        procs = max(1, args.procs // len(gateways))
        workers += await _spawn_workers(f"{gateway}/v1/ws", share, procs, args.seconds, prefix)
    for w in workers:
        w.stdin.write(b"go\n")
        await w.stdin.drain()
    pids["subscribers"] = [w.pid for w in workers]
    before = _cpu(pids)
    loaded, failed = await _order_flow(api, keys, args.seconds)
    loaded_cpu = {k: v - before[k] for k, v in _cpu(pids).items()}
    stats = [json.loads((await w.stdout.readline()).decode()) for w in workers]
    for w in workers:
        await w.wait()
    delays = [d / 1e9 for s in stats for d in s["delays"]]
    return {
        "quiet": quiet / args.seconds,
        "loaded": loaded / args.seconds,
        "failed": failed,
        "messages": sum(s["messages"] for s in stats) / max(s["elapsed"] for s in stats),
        "gaps": sum(s["gaps"] for s in stats),
        "closed": sum(s["closed"] for s in stats),
        "p50": percentile(delays, 50) * 1000 if delays else float("nan"),
        "p99": percentile(delays, 99) * 1000 if delays else float("nan"),
        "trades": len(delays),
        "cpu": {k: (quiet_cpu.get(k, 0.0), v) for k, v in loaded_cpu.items()},
    }


async def main(args: argparse.Namespace) -> None:
    secret_key = Fernet.generate_key().decode()
    results: dict[str, dict[str, Any]] = {}

    for clients in ((), NICE):
        name = "one process (all)" + (", subscribers at nice 19" if clients else "")
        if args.only in name:
            results[name] = await _one_process(args, secret_key, clients)
    for gateways, clients in (((), ()), ((), NICE), (NICE, NICE)):
        name = "cluster (sequencer, api, 2 gateways)"
        name += {
            ((), ()): "",
            ((), NICE): ", subscribers at nice 19",
            (NICE, NICE): ", gateways and subscribers at nice 19",
        }[(gateways, clients)]
        if args.only in name:
            results[name] = await _cluster(args, secret_key, gateways, clients)
    _report(args, results)


async def _one_process(
    args: argparse.Namespace, secret_key: str, clients: tuple[str, ...]
) -> dict[str, Any]:
    url = await fresh_database("exchange_bench_scaleout_all")
    await asyncio.to_thread(migrate, url)
    keys = await _seed(url, args.traders, secret_key)
    proc, base = start_exchange(url, secret_key)
    try:
        return await _measure(
            base, [base.replace("http", "ws")], keys, args, clients, {"exchange": [proc.pid]}
        )
    finally:
        proc.terminate()
        proc.wait(15)


NICE = ("nice", "-n", "19")


async def _cluster(
    args: argparse.Namespace,
    secret_key: str,
    prefix: tuple[str, ...],
    clients: tuple[str, ...],
) -> dict[str, Any]:
    url = await fresh_database("exchange_bench_scaleout_cluster")
    await asyncio.to_thread(migrate, url)
    keys = await _seed(url, args.traders, secret_key)
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
                gateway, gateway_base = _role("gateway", url, secret_key, nats.url, prefix)
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
                p.wait(15)
            nats.stop()


def _report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    print(
        f"{args.subscribers} subscribers (book + trades of SN1/TAO) in {args.procs} processes; "
        f"order flow {args.traders} clients, {args.seconds:.0f} s per measurement"
    )
    for name, r in results.items():
        print(f"{name}:")
        print(
            f"  orders without subscribers {r['quiet']:7.0f}/s, with them {r['loaded']:7.0f}/s "
            f"({r['failed']} failed): ratio {r['loaded'] / r['quiet']:.2f}"
        )
        print(
            f"  delivered {r['messages']:9.0f} msg/s ({r['gaps']} sequence gaps, "
            f"{r['closed']} disconnected); match -> delivery p50 {r['p50']:.1f} ms, "
            f"p99 {r['p99']:.1f} ms over {r['trades']} trade deliveries (every 10th "
            "subscriber's)"
        )
        cpu = ", ".join(f"{k} {q:.1f} -> {v:.1f}" for k, (q, v) in r["cpu"].items())
        print(f"  CPU s without -> with subscribers: {cpu}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--traders", type=int, default=8, help="order-flow clients")
    parser.add_argument("--only", default="", help="the deployments whose name has this")
    asyncio.run(main(parser.parse_args()))
