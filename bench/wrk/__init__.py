"""Load from `wrk` (Debian's package), not from Python on the server's own cores.

`write_requests` pre-signs requests into one file per connection (one API key each, rising
nonces); `run` replays them with `bench/wrk/replay.lua` and returns the answers counted by
status. Install wrk with `apt-get install wrk`.
"""

import asyncio
import json
import re
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.auth.signing import sign

LUA = Path(__file__).with_name("replay.lua")

# One request: (method, path, JSON body without the nonce).
RequestSpec = tuple[str, str, dict[str, object]]


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    return path


def write_requests(
    folder: Path,
    keys: list[tuple[str, str]],
    per_connection: int,
    make: Callable[[int, int], RequestSpec],
    *,
    signed: bool = True,
) -> None:
    """`folder/<i>.req` for connection i, signed with keys[i] (unsigned: no nonce, and a GET
    without a body): `make(i, n)` is the n-th request of connection i."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.req"):
        old.unlink()
    base = time.time_ns()
    for i, (key, secret) in enumerate(keys):
        with (folder / f"{i}.req").open("w") as out:
            for n in range(per_connection):
                method, path, body = make(i, n)
                if not signed:
                    raw = json.dumps(body, separators=(",", ":")) if method != "GET" else ""
                    out.write(f"{method}\t{path}\t-\t-\t{raw}\n")
                    continue
                nonce = base + n
                raw = json.dumps({"nonce": nonce, **body}, separators=(",", ":"))
                signature = sign(secret, path, str(nonce), raw)
                out.write(f"{method}\t{path}\t{key}\t{signature}\t{raw}\n")


@dataclass
class WrkResult:
    seconds: float
    statuses: dict[int, int]
    p50_ms: float
    p99_ms: float
    cpu_seconds: float = 0.0  # wrk's own (user + system)

    def count(self, *statuses: int) -> int:
        return sum(self.statuses.get(s, 0) for s in statuses)

    def rate(self, *statuses: int) -> float:
        return self.count(*statuses) / self.seconds


async def run(
    url: str, folder: Path, connections: int, seconds: float, *, cycle: bool = False
) -> WrkResult:
    """wrk replaying `folder`'s requests for `seconds`; `cycle`: each connection sends its
    requests again from the first when it has sent them all (unsigned requests only), else
    it stops."""
    env = {"REPLAY_DIR": str(folder), **({"REPLAY_CYCLE": "1"} if cycle else {})}
    before = _children_cpu()
    proc = await asyncio.create_subprocess_exec(
        require_wrk(),
        "-t",
        str(connections),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA),
        url,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    text = out.decode()
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed: {err.decode()}{text}")
    statuses = {int(s): int(n) for s, n in re.findall(r"^STATUS (\d+) (\d+)$", text, re.M)}
    p50 = re.search(r"^LATENCY_P50_US (\d+)$", text, re.M)
    p99 = re.search(r"^LATENCY_P99_US (\d+)$", text, re.M)
    return WrkResult(
        seconds,
        statuses,
        int(p50.group(1)) / 1000 if p50 else float("nan"),
        int(p99.group(1)) / 1000 if p99 else float("nan"),
        _children_cpu() - before,
    )


def _children_cpu() -> float:
    """CPU seconds of this process's children that have ended and been waited for (wrk,
    once `run` has its output; also any other child reaped meanwhile, such as py-spy)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
