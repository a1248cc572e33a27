"""The invariant checker finds each kind of corruption; the CLI exits non-zero on it."""

import os
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import PROJECT_ROOT
from app.ledger import service as L
from app.ledger.check import check_ledger
from tests.ledger.conftest import MakeUser


async def _setup(s: AsyncSession, user: int) -> dict[str, int]:
    custody = await L.system_account_id(s, "TAO", "custody")
    acc = await L.user_account_ids(s, user, "TAO")
    await L.apply_batch(s, [L.TransferSpec("d", custody, acc["available"], 100, "deposit")])
    await L.place_hold(s, "h", user, "TAO", 40)
    await s.commit()
    return {**acc, "custody": custody}


def _cli(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url.replace("+asyncpg", "")}
    return subprocess.run(
        [sys.executable, "-m", "app", "ledger", "check"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.acceptance
async def test_clean_ledger_passes_and_cli_exits_zero(
    session: AsyncSession, make_user: MakeUser, database_url: str
) -> None:
    await _setup(session, await make_user())
    report = await check_ledger(session)
    assert report.ok and report.transfers == 2 and report.holds == 1
    done = _cli(database_url)
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout


async def test_each_corruption_is_reported(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    make_user: MakeUser,
    database_url: str,
) -> None:
    acc = await _setup(session, await make_user())
    async with sessionmaker() as s:
        # Bypass the service: a balance that no transfer explains, and a hold whose counters
        # disagree with its transfers.
        await s.execute(
            text("UPDATE ledger_accounts SET balance = balance + 7 WHERE id = :i"),
            {"i": acc["staked"]},
        )
        await s.execute(text("UPDATE ledger_holds SET consumed = 5 WHERE id = 'h'"))
        await s.commit()
    report = await check_ledger(session)
    found = {v.invariant for v in report.violations}
    assert found == {
        "asset_sum_zero",
        "balance_equals_transfers",
        "hold_matches_transfers",
        "held_equals_pending_holds",
    }, report.render()
    done = _cli(database_url)
    assert done.returncode == 1
    assert "asset_sum_zero" in done.stdout and "VIOLATION" in done.stdout
