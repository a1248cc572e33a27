"""Processes of a cluster for the tests: any role of `python -m app serve` on one database
and one NATS server."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.config import PROJECT_ROOT
from tests.conftest import SERVER_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    def __init__(self, role: str, database_url: str, nats_url: str, logs: Path) -> None:
        self.role = role
        self.port = free_port()
        self.log = logs / f"{role}-{self.port}.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "EXCHANGE_ROLE": role,
            "EXCHANGE_SECRET_KEY": SERVER_KEY,
            "EXCHANGE_INDEXER_ENABLED": "false",
            "EXCHANGE_CUSTODY_ENABLED": "false",
            "EXCHANGE_RATE_LIMIT_PER_SECOND": "100000",
            "EXCHANGE_RATE_LIMIT_BURST": "100000",
            "EXCHANGE_REFUSAL_RATE_PER_CONNECTION": "0",
            "EXCHANGE_LOG_LEVEL": "INFO",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"

    def start(self, *, until: str = "/ready") -> "Node":
        """Start; return once `until` answers 200 (`/health` for a standby sequencer)."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.wait(until)
        return self

    def wait(self, path: str = "/ready", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, (
                f"{self.role} exited: {self.log.read_text()[-3000:]}"
            )
            try:
                if httpx.get(f"{self.url}{path}", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.role} not answering {path}: {self.log.read_text()[-3000:]}")

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
