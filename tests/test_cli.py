"""The CLI on the embedded default: serve comes up, SIGTERM stops Postgres cleanly, and the
next start reuses the data."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.config import PROJECT_ROOT

pytestmark = pytest.mark.acceptance  # a real server or CLI process: see pyproject.toml


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "EXCHANGE_DATABASE_URL")
    }
    env["EXCHANGE_DATA_DIR"] = str(tmp_path / "data")
    env["EXCHANGE_LOG_JSON"] = "true"
    env["EXCHANGE_DEVNET_PORT"] = "0"  # in-process devnets on a free port, not 9944
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited early"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server not ready in time")


def _postgres_running(data_dir: Path) -> bool:
    pid_file = data_dir / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_stop_and_restart_on_the_embedded_database(embedded_env: dict[str, str]) -> None:
    data_dir = Path(embedded_env["EXCHANGE_DATA_DIR"])
    created = _cli(embedded_env, "users", "create", "--email", "carol@example.com")
    assert created.returncode == 0, created.stderr
    assert not _postgres_running(data_dir), "a one-shot command leaves no Postgres behind"

    for _ in range(2):
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)],
            env=embedded_env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_ready(port, proc)
            assert _postgres_running(data_dir)
            proc.send_signal(signal.SIGTERM)
            # uvicorn re-raises the SIGTERM after its graceful shutdown: 143 is the clean exit.
            assert proc.wait(timeout=30) in (0, 143)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert not _postgres_running(data_dir), "SIGTERM must stop the embedded Postgres"

    # The user made before the two runs is still there: the data was reused, not re-created.
    keys = _cli(
        embedded_env, "keys", "create", "--email", "carol@example.com", "--scopes", "read,trade"
    )
    assert keys.returncode == 0, keys.stderr
    assert "API-Key:" in keys.stdout and "API-Secret:" in keys.stdout
    bad = _cli(embedded_env, "keys", "create", "--email", "nobody@example.com")
    assert bad.returncode == 1 and "user_not_found" in bad.stderr


def test_indexer_command_indexes_the_devnet_and_stops_on_sigterm(
    embedded_env: dict[str, str],
) -> None:
    """`python -m app indexer` with CHAIN_URL=devnet: its own in-process devnet, the first
    snapshot at once, and a clean exit (Postgres stopped) on SIGTERM."""
    import asyncio
    import contextlib

    import asyncpg

    data_dir = Path(embedded_env["EXCHANGE_DATA_DIR"])
    env = {**embedded_env, "CHAIN_URL": "devnet"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "indexer"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    async def indexed_block() -> int | None:
        conn = await asyncpg.connect(
            host=str(data_dir / "pg"), user="postgres", database="postgres"
        )
        try:
            exists = await conn.fetchval("SELECT to_regclass('indexer_state') IS NOT NULL")
            return await conn.fetchval("SELECT last_block FROM indexer_state") if exists else None
        finally:
            await conn.close()

    try:
        deadline = time.monotonic() + 25
        block = None
        while block is None:
            assert proc.poll() is None, "indexer exited early"
            assert time.monotonic() < deadline, "no block indexed in time"
            time.sleep(0.3)
            if _postgres_running(data_dir):
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    block = asyncio.run(indexed_block())
        assert block >= 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not _postgres_running(data_dir), "SIGTERM must stop the embedded Postgres"


def test_a_wallet_outside_the_process_transacts_on_the_devnet_command(
    embedded_env: dict[str, str],
) -> None:
    """`python -m app devnet` on a given port: substrate-interface, in another process, sends
    TAO from //Alice and waits for finality; a taken port is refused clearly."""
    from substrateinterface import Keypair, SubstrateInterface

    port = _free_port()
    args = ["devnet", "--port", str(port), "--subnets", "2", "--block-time", "0.2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", *args],
        env=embedded_env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"devnet listening on ws://127.0.0.1:{port}"
        with SubstrateInterface(url=f"ws://127.0.0.1:{port}", ss58_format=42) as substrate:
            alice = Keypair.create_from_uri("//Alice")
            dest = Keypair.create_from_uri("//Devnet//Tests//cli-wallet").ss58_address
            call = substrate.compose_call(
                "Balances", "transfer_keep_alive", {"dest": dest, "value": 10**9}
            )
            xt = substrate.create_signed_extrinsic(call, alice, era={"period": 64})
            receipt = substrate.submit_extrinsic(xt, wait_for_finalization=True)
            assert receipt.is_success
            assert substrate.query("System", "Account", [dest]).value["data"]["free"] == 10**9

        taken = _cli(embedded_env, "devnet", "--port", str(port))
        assert taken.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in taken.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# Which database, and clear refusals when there is none to reach.


def test_redact_url_hides_passwords_only() -> None:
    from app.cli import redact_url

    assert (
        redact_url("postgresql://app:s3cr%40t@db.example:5432/exchange?sslmode=require")
        == "postgresql://app:***@db.example:5432/exchange?sslmode=require"
    )
    assert redact_url("postgresql://app@db/x?password=hunter2&sslmode=require") == (
        "postgresql://app@db/x?password=***&sslmode=require"
    )
    assert redact_url("postgresql://db.example/x") == "postgresql://db.example/x"


def _refused_in_one_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert result.stdout == ""
    return errors[0]


def test_cli_says_which_database_it_used(embedded_env: dict[str, str], database_url: str) -> None:
    data_dir = Path(embedded_env["EXCHANGE_DATA_DIR"])
    made = _cli(embedded_env, "users", "create", "--email", "dora@example.com")
    assert made.returncode == 0, made.stderr
    assert f"database: embedded Postgres in {data_dir / 'pg'}\n" in made.stderr

    from app.cli import redact_url
    from app.kit.embedded_pg import with_database

    # A configured database (the tests' own, migrated): named, without its password.
    plain = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    env = {**embedded_env, "DATABASE_URL": plain}
    check = _cli(env, "ledger", "check")
    assert check.returncode == 0, check.stderr
    assert f"database: {redact_url(plain)}\n" in check.stderr

    # Reachable but never migrated: refused before anything is written, and told what to do.
    import asyncio

    import asyncpg

    empty = with_database(plain, "cli_unmigrated")

    async def recreate() -> None:
        conn = await asyncpg.connect(plain)
        try:
            await conn.execute('DROP DATABASE IF EXISTS "cli_unmigrated"')
            await conn.execute('CREATE DATABASE "cli_unmigrated"')
        finally:
            await conn.close()

    asyncio.run(recreate())
    refused = _cli({**env, "DATABASE_URL": empty}, "users", "create", "--email", "e@example.com")
    _refused_in_one_line(refused, "is at migration (none)", "python -m app migrate")


def test_cli_refuses_clearly_when_it_cannot_reach_a_database(
    embedded_env: dict[str, str],
) -> None:
    port = _free_port()  # nothing listens there
    url = f"postgresql://exchange:hunter2@127.0.0.1:{port}/exchange"
    env = {**embedded_env, "DATABASE_URL": url}
    for args in (
        ("users", "create", "--email", "f@example.com"),
        ("keys", "create", "--email", "f@example.com"),
        ("migrate",),
        ("ledger", "check"),
    ):
        line = _refused_in_one_line(
            _cli(env, *args),
            f"cannot reach the database postgresql://exchange:***@127.0.0.1:{port}/exchange",
        )
        assert "hunter2" not in line

    bad_scheme = _cli({**embedded_env, "DATABASE_URL": "mysql://x@db/y"}, "migrate")
    _refused_in_one_line(bad_scheme, "unsupported database URL scheme: mysql")

    # The embedded default where no folder can be made (a file stands in the way).
    blocker = Path(embedded_env["EXCHANGE_DATA_DIR"]).parent / "a-file"
    blocker.write_text("not a folder")
    env = {**embedded_env, "EXCHANGE_DATA_DIR": str(blocker / "data")}
    _refused_in_one_line(
        _cli(env, "users", "create", "--email", "g@example.com"),
        f"cannot start the embedded Postgres in {blocker / 'data' / 'pg'}",
    )
