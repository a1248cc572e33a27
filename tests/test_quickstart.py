"""The README's Quickstart, run as written: the test reads README.md itself, starts the
service with the section's own command (`./scripts/serve`, on the embedded default: a fresh
embedded Postgres and the in-process devnet), then runs every ```bash block between the
`quickstart` markers, in order, in one bash (`set -e`), as the second shell of the section.
The only change made to the commands is the port the service listens on. Then it checks
the trade through the API: the fills, both traders' balances to the rao, the book, and the
ledger's invariants.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.signing import sign
from app.config import PROJECT_ROOT

pytestmark = pytest.mark.acceptance  # a real server or CLI process: see pyproject.toml

README = PROJECT_ROOT / "README.md"
BEGIN, END = "<!-- quickstart:begin -->", "<!-- quickstart:end -->"
BASE = "http://127.0.0.1:8000"
BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def quickstart_section() -> tuple[list[str], list[str]]:
    """The section's first shell's commands (before the begin marker) and the second
    shell's blocks (between the markers)."""
    text = README.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1, "one pair of quickstart markers"
    section = text.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    first, rest = section.split(BEGIN, 1)
    second, after = rest.split(END, 1)
    assert not BASH_BLOCK.findall(after), "every command of the Quickstart is between its markers"
    return BASH_BLOCK.findall(first), BASH_BLOCK.findall(second)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, path: str, key: str, secret: str, **params: str) -> Any:
    nonce = str(time.time_ns() // 1000)  # microseconds: later than the script's milliseconds
    query = "&".join([*(f"{k}={v}" for k, v in params.items()), f"nonce={nonce}"])
    headers = {"API-Key": key, "API-Sign": sign(secret, path, nonce, query)}
    response = httpx.get(f"{url}{path}?{query}", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _balances(url: str, key: str, secret: str) -> dict[str, tuple[int, int]]:
    body = _get(url, "/v1/balances", key, secret)
    return {b["asset"]: (int(b["available"]), int(b["held"])) for b in body["balances"]}


def test_the_readme_quickstart_trades_as_written(tmp_path: Path) -> None:
    first, second = quickstart_section()
    assert [b.strip() for b in first] == ["./scripts/serve"]
    script = "\n".join(second)
    assert script.count(f"API={BASE}\n") == 1 and script.count(BASE) == 1, (
        "the service's address is set once, in $API"
    )

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # The embedded default, as a newcomer has it: no database URL, no settings but where the
    # data goes (a fresh folder) and a free port for the in-process devnet.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("EXCHANGE_")
        and k not in ("DATABASE_URL", "TEST_DATABASE_URL", "CHAIN_URL")
    }
    env |= {
        "EXCHANGE_DATA_DIR": str(tmp_path / "data"),
        "EXCHANGE_DEVNET_PORT": "0",
        "EXCHANGE_LOG_LEVEL": "WARNING",
    }
    serve = [*first[0].split(), "--port", str(port)]
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(serve, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=log)
    try:
        tail = '\necho "QUICKSTART $ALICE_KEY $ALICE_SECRET $BOB_KEY $BOB_SECRET $PRICE"\n'
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script.replace(BASE, url) + tail],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert server.poll() is None, "the service exited"
        assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
        out = run.stdout
        # The CLI said which database it wrote to: the service's embedded one.
        assert f"database: embedded Postgres in {tmp_path / 'data' / 'pg'}" in run.stderr
        last = out.strip().splitlines()[-1].split()
        assert last[0] == "QUICKSTART" and len(last) == 6, out
        alice_key, alice_secret, bob_key, bob_secret = last[1:5]
        price = int(last[5])

        # What the script printed: the native order filled, CCXT's closed.
        assert "\nfilled 10000000000 " in out, out
        assert "\nclosed 5.0\n" in out, out

        market = httpx.get(f"{url}/v1/markets/SN1-TAO", timeout=10).json()
        assert market["state"] == "trading"
        tick, maker_bps, taker_bps = (
            int(market["tick_size"]),
            market["maker_fee_bps"],
            market["taker_fee_bps"],
        )
        assert price % tick == 0 and price > 0

        # Alice bought 10 SN1 (native) then 5 (CCXT), both times from bob's offer of 20.
        fills = _get(url, "/v1/fills", alice_key, alice_secret, market="SN1-TAO")["fills"]
        assert sorted(
            (f["side"], f["liquidity"], int(f["price"]), int(f["qty"])) for f in fills
        ) == [
            ("buy", "taker", price, 5 * 10**9),
            ("buy", "taker", price, 10 * 10**9),
        ]
        quotes = [price * q // 10**9 for q in (10 * 10**9, 5 * 10**9)]
        assert sorted(int(f["quote"]) for f in fills) == sorted(quotes)
        taker_fees = [q * taker_bps // 10_000 for q in quotes]
        maker_fees = [q * maker_bps // 10_000 for q in quotes]
        assert sorted(int(f["fee"]) for f in fills) == sorted(taker_fees)

        # Balances to the rao: funded with 10 TAO (alice) and 30 SN1 (bob).
        assert _balances(url, alice_key, alice_secret) == {
            "TAO": (10 * 10**9 - sum(quotes) - sum(taker_fees), 0),
            "SN1": (15 * 10**9, 0),
        }
        assert _balances(url, bob_key, bob_secret) == {
            "TAO": (sum(quotes) - sum(maker_fees), 0),
            "SN1": (10 * 10**9, 5 * 10**9),  # 5 still offered
        }

        # The book: bob's remaining 5 SN1, nothing bid.
        book = httpx.get(f"{url}/v1/markets/SN1-TAO/book", timeout=10).json()
        assert book["bids"] == []
        assert book["asks"] == [{"price": str(price), "qty": str(5 * 10**9), "orders": 1}]

        # And the ledger still balances (every asset sums to zero, holds accounted for).
        check = subprocess.run(
            [sys.executable, "-m", "app", "ledger", "check"],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert check.returncode == 0 and ": OK" in check.stdout, check.stdout + check.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()
