"""Market data under load: WebSocket fan-out to 1,000 subscribers while orders flow, and REST
`book` / `ticker` requests per second beside a hello-world FastAPI baseline (same run).

The exchange runs as a real `python -m app serve` process. The subscribers live in separate
worker processes (`--procs`, raw WebSocket clients: `_Subscriber`), each subscribed to `book` and
`trades` of SN1/TAO; the order flow and the REST load come from this process.

- delivered messages/s: every message received by every subscriber during the flow window;
- delay: for each `trades` message, receipt time - the match's engine timestamp (`ts`), as
  p50 / p99 over every delivery (same machine clock);
- orders/s of the same flow without subscribers first (what the fan-out costs the engine,
  which shares the process and its event loop);
- REST: `GET /v1/markets/SN1-TAO/book` and `/ticker` req/s with `--clients` concurrent
  clients, beside `GET /hello` of a bare FastAPI app (`bench.hello_app`).

    .venv/bin/python -m bench.marketdata_ws [--subscribers 1000] [--procs 4] [--seconds 10]

Uses DATABASE_URL's server if set, else the embedded Postgres in .data/bench.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import sys
import time
from typing import Any

import httpx
from cryptography.fernet import Fernet

from bench.common import fresh_database, migrate, percentile
from bench.orders_http import (
    _load,
    _port,
    _start,
    _wait_ready,
    order_placer,
    seed_market,
    start_exchange,
)

# ---------------------------------------------------------------------------- subscriber worker


class _Subscriber(asyncio.Protocol):
    """A WebSocket client that does as little as a subscriber can: parses frame headers,
    checks book sequences without a JSON parse and decodes only `trades` messages (for the
    delay). The `websockets` client costs ~30 us a message in Python; 1,000 of them on
    the cores the exchange uses would make the load generator the bottleneck."""

    def __init__(
        self,
        url: str,
        counts: dict[str, int],
        delays: list[int] | None,
        started: asyncio.Event,
    ):
        self.counts, self.delays, self.started = counts, delays, started
        self.host, _, rest = url.removeprefix("ws://").partition("/")
        self.path = "/" + rest
        self.buf = b""
        self.open = False
        self.seq: int | None = None
        self.opened = asyncio.get_running_loop().create_future()
        self.acks, self.acked = 0, self.opened
        self.done = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def subscription(self, op: str) -> "asyncio.Future[None]":
        """Subscribe to (or unsubscribe from) `book` and `trades` of SN1/TAO; done when the
        server acknowledged both."""
        self.seq = None  # a subscription starts with a snapshot
        self.acks, self.acked = 2, asyncio.get_running_loop().create_future()
        for channel in ("book", "trades"):
            self.send_text(json.dumps({"op": op, "channel": channel, "market": "SN1/TAO"}))
        return self.acked

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    def _send(self, opcode: int, payload: bytes) -> None:
        """A client frame (masked, as clients must); payloads under 126 bytes."""
        assert self.transport is not None and len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            assert buf.startswith(b"HTTP/1.1 101"), buf[:200]
            self.open, buf = True, buf[end + 4 :]
            self.opened.set_result(None)
        at, now, started = 0, time.time_ns(), self.started.is_set()
        while len(buf) - at >= 2:
            opcode, n, head = buf[at] & 0x0F, buf[at + 1] & 0x7F, 2
            if n == 126:
                if len(buf) - at < 4:
                    break
                n, head = int.from_bytes(buf[at + 2 : at + 4]), 4
            elif n == 127:
                if len(buf) - at < 10:
                    break
                n, head = int.from_bytes(buf[at + 2 : at + 10]), 10
            if len(buf) - at < head + n:
                break
            payload = buf[at + head : at + head + n]
            at += head + n
            if opcode == 8:  # close
                self.counts["closed"] += 1
                assert self.transport is not None
                self.transport.close()
                break
            if opcode == 9:  # the server's keepalive ping: pong, or it closes
                self._send(0xA, payload)
                continue
            if opcode != 1:
                continue
            if started:
                self.counts["messages"] += 1
            if payload.startswith((b'{"event":"subscribed"', b'{"event":"unsubscribed"')):
                self.acks -= 1
                if self.acks == 0:
                    self.acked.set_result(None)
            elif payload.startswith(b'{"channel":"trades"'):
                if started and self.delays is not None:
                    self.delays.extend(now - t["ts"] for t in json.loads(payload)["data"])
            elif payload.startswith(b'{"channel":"book"'):
                i = payload.index(b'"sequence":') + 11
                seq = int(payload[i : payload.index(b",", i)])
                j = payload.find(b'"first":')
                first = int(payload[j + 8 : payload.index(b",", j)]) if j >= 0 else None
                if self.seq is not None and first is not None and first != self.seq + 1:
                    self.counts["gaps"] += 1  # an update's first must follow the last
                self.seq = seq
        self.buf = buf[at:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _subscriber_worker(url: str, count: int) -> None:
    """Connect `count` subscribers and say "ready"; then obey stdin, a command a line:
    `subscribe` / `unsubscribe` (every connection, then "ok"), `go` (start counting),
    `stop` (print one JSON line of statistics since `go`), `exit` (or end of input)."""
    delays: list[int] = []
    counts = {"messages": 0, "gaps": 0, "closed": 0}
    started = asyncio.Event()
    host, port = url.removeprefix("ws://").partition("/")[0].split(":")
    loop = asyncio.get_running_loop()
    subs: list[_Subscriber] = []
    for i in range(count):
        # Every tenth subscriber times its trades (a sample: decoding them all costs the
        # load generator more than the delivery costs the exchange).
        _, sub = await loop.create_connection(
            lambda s=i % 10 == 0: _Subscriber(url, counts, delays if s else None, started),
            host,
            int(port),
        )
        await sub.opened
        subs.append(sub)
    print("ready", flush=True)
    t0 = time.perf_counter()
    while True:
        command = (await asyncio.to_thread(sys.stdin.readline)).strip()
        if command in ("subscribe", "unsubscribe"):
            await asyncio.gather(*(sub.subscription(command) for sub in subs))
            print("ok", flush=True)
        elif command == "go":
            counts.update(messages=0, gaps=0)
            delays.clear()
            started.set()
            t0 = time.perf_counter()
        elif command == "stop":
            elapsed = time.perf_counter() - t0
            started.clear()
            print(json.dumps({**counts, "elapsed": elapsed, "delays": delays}), flush=True)
        else:
            break
    for sub in subs:
        if sub.transport is not None:
            sub.transport.close()


class Subscribers:
    """Worker processes holding `subscribers` connections to `url`, split over `procs`.
    `prefix`: a command the workers run under (e.g. `nice -n 19`)."""

    def __init__(self) -> None:
        self.workers: list[Any] = []

    @classmethod
    async def start(
        cls, url: str, subscribers: int, procs: int, prefix: tuple[str, ...] = ()
    ) -> "Subscribers":
        pool = cls()
        per = [subscribers // procs + (1 if i < subscribers % procs else 0) for i in range(procs)]
        for n in per:
            pool.workers.append(
                await asyncio.create_subprocess_exec(
                    *prefix,
                    sys.executable,
                    "-m",
                    "bench.marketdata_ws",
                    "--worker",
                    url,
                    "--subscribers",
                    str(n),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=2**30,  # the statistics line carries every delay
                )
            )
        for w in pool.workers:
            line = await asyncio.wait_for(w.stdout.readline(), 300)
            assert line.strip() == b"ready", line
        return pool

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    async def tell(self, command: str, answer: bool = False) -> list[bytes]:
        for w in self.workers:
            w.stdin.write(command.encode() + b"\n")
            await w.stdin.drain()
        return [await w.stdout.readline() for w in self.workers] if answer else []

    async def subscribe(self, op: str = "subscribe") -> None:
        assert all(line.strip() == b"ok" for line in await self.tell(op, answer=True))

    async def stats(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in await self.tell("stop", answer=True)]

    async def close(self) -> None:
        await self.tell("exit")
        for w in self.workers:
            await w.wait()


# ---------------------------------------------------------------------------- driver


async def _order_flow(base: str, keys: list[tuple[str, str]], seconds: float) -> tuple[int, int]:
    """Crossing limit orders from every key: about half of them trade."""
    ok, failed, _ = await _load(len(keys), seconds, order_placer(keys, 3), base)
    return ok, failed


async def _rest_rate(base: str, path: str, clients: int, seconds: float) -> tuple[float, int]:
    async def get(http: httpx.AsyncClient, i: int, rng: random.Random) -> httpx.Response:
        return await http.get(path)

    ok, failed, _ = await _load(clients, seconds, get, base)
    return ok / seconds, failed


async def main(subscribers: int, procs: int, seconds: float, clients: int, traders: int) -> None:
    secret_key = Fernet.generate_key().decode()
    url = await fresh_database("exchange_bench_marketdata")
    await asyncio.to_thread(migrate, url)
    keys = await seed_market(url, traders, secret_key)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    # Baseline: hello world through the same stack (FastAPI + uvicorn).
    port = _port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "uvicorn", "bench.hello_app:app", "--port", str(port)]
    proc = _start([*cmd, "--log-level", "warning"], env)
    try:
        _wait_ready(base, "/hello", proc)
        hello_rate, _ = await _rest_rate(base, "/hello", clients, seconds)
    finally:
        proc.terminate()
        proc.wait(10)

    proc, base = start_exchange(url, secret_key)
    port = int(base.rsplit(":", 1)[1])
    try:
        quiet_ok, _ = await _order_flow(base, keys, seconds)  # no subscribers: reference
        ws_url = f"ws://127.0.0.1:{port}/v1/ws"
        pool = await Subscribers.start(ws_url, subscribers, procs)
        await pool.subscribe()
        await pool.tell("go")
        orders_ok, orders_failed = await _order_flow(base, keys, seconds)
        stats = await pool.stats()
        await pool.close()
        trades = (await httpx.AsyncClient(base_url=base).get("/v1/tickers")).json()[0]
        book_rate, book_failed = await _rest_rate(
            base, "/v1/markets/SN1-TAO/book", clients, seconds
        )
        ticker_rate, ticker_failed = await _rest_rate(
            base, "/v1/markets/SN1-TAO/ticker", clients, seconds
        )
    finally:
        proc.terminate()
        proc.wait(15)

    messages = sum(s["messages"] for s in stats)
    elapsed = max(s["elapsed"] for s in stats)
    delays = [d / 1e9 for s in stats for d in s["delays"]]
    gaps = sum(s["gaps"] for s in stats)
    closed = sum(s["closed"] for s in stats)
    print(
        f"subscribers {subscribers} in {procs} processes; "
        f"order flow {traders} clients, {seconds:.0f} s"
    )
    print(
        f"orders    placed without subscribers: {quiet_ok / seconds:8.0f} ord/s; "
        f"with them: {orders_ok / seconds:8.0f} ord/s ({orders_failed} failed); "
        f"trades in 24 h: {trades['trades_24h']}"
    )
    print(
        f"ws        delivered: {messages / elapsed:10.0f} msg/s ({messages} messages; "
        f"{gaps} sequence gaps, {closed} disconnected)"
    )
    print(
        f"          match -> delivery: p50 {percentile(delays, 50) * 1000:.1f} ms, "
        f"p99 {percentile(delays, 99) * 1000:.1f} ms over {len(delays)} trade deliveries"
    )
    print(f"baseline  GET /hello:    {hello_rate:8.0f} req/s ({clients} clients)")
    print(
        f"rest      GET book:      {book_rate:8.0f} req/s ({book_failed} failed), "
        f"ratio {book_rate / hello_rate:.2f}"
    )
    print(
        f"rest      GET ticker:    {ticker_rate:8.0f} req/s ({ticker_failed} failed), "
        f"ratio {ticker_rate / hello_rate:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32, help="REST clients")
    parser.add_argument("--traders", type=int, default=8, help="order-flow clients")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(_subscriber_worker(args.worker, args.subscribers))
    else:
        asyncio.run(main(args.subscribers, args.procs, args.seconds, args.clients, args.traders))
