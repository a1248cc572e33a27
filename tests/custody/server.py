"""A real `python -m app serve` process for the custody acceptance and fault tests: its
chain is a devnet the test runs (and can stop, restart and produce blocks on), its custody
worker scans and signs with the devnet key `//Exchange`."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.config import PROJECT_ROOT
from tests.conftest import SERVER_KEY
from tests.orders.test_crash import _free_port


class CustodyServer:
    def __init__(self, database_url: str, chain_url: str, log: Path, **env: str) -> None:
        self.port = _free_port()
        self.log = log
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CHAIN_URL": chain_url,
            "EXCHANGE_SECRET_KEY": SERVER_KEY,
            "EXCHANGE_INDEXER_ENABLED": "true",
            "EXCHANGE_INDEXER_POLL_SECONDS": "0.1",
            "EXCHANGE_CUSTODY_ENABLED": "true",
            "EXCHANGE_CUSTODY_SECRET_URI": "//Exchange",
            "EXCHANGE_CUSTODY_POLL_SECONDS": "0.1",
            "EXCHANGE_CUSTODY_ERA_PERIOD": "16",
            "EXCHANGE_LISTING_MIN_AGE_BLOCKS": "0",
            "EXCHANGE_LISTING_MIN_POOL_RAO": "0",
            "EXCHANGE_RATE_LIMIT_PER_SECOND": "100000",
            "EXCHANGE_RATE_LIMIT_BURST": "100000",
            "EXCHANGE_REFUSAL_RATE_PER_CONNECTION": "0",
            "EXCHANGE_LOG_LEVEL": "INFO",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True, **env: str) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--port", str(self.port)],
                env={**self.env, **env},
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited; see {self.log}"
            try:
                r = httpx.get(f"{self.url}/health", timeout=1)
                if r.status_code == 200 and (
                    not wait_ready or httpx.get(f"{self.url}/ready", timeout=2).status_code == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready; see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
