"""The ledger's references, checked once per statement (migration 0021): a transfer's
accounts of its asset and its hold, a hold's own accounts; the rows they name are kept. A
write that breaks one is refused whole; `ledger check` finds one written with the triggers
off."""

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.ledger import service as L
from app.ledger.check import check_ledger
from tests.ledger.conftest import MakeUser
from tests.pgstats import postgres_error, rows_read

pytestmark = pytest.mark.usefixtures("assets")

TRANSFER = (
    "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, asset, amount, "
    "code, hold_id, batch_id) VALUES (:id, :d, :c, :asset, 5, 'test', :hold, gen_random_uuid())"
)
HOLD = (
    "INSERT INTO ledger_holds (id, user_id, asset, account_id, available_account_id, amount) "
    "VALUES (:id, :u, :asset, :held, :available, 5)"
)


async def _funded(s: AsyncSession, user: int) -> dict[str, int]:
    custody = await L.system_account_id(s, "TAO", "custody")
    acc = await L.user_account_ids(s, user, "TAO")
    await L.apply_batch(s, [L.TransferSpec("d", custody, acc["available"], 100, "deposit")])
    await L.place_hold(s, "h", user, "TAO", 40)
    sn1 = await L.get_account_id(s, user, "SN1", "available")
    sn1_custody = await L.system_account_id(s, "SN1", "custody")
    await s.commit()
    return {**acc, "custody": custody, "sn1": sn1, "sn1_custody": sn1_custody, "user": user}


async def _refused(
    sessionmaker: async_sessionmaker[AsyncSession], sql: str, params: dict[str, object]
) -> asyncpg.PostgresError:
    async with sessionmaker() as s:
        with pytest.raises(DBAPIError) as caught:
            await s.execute(text(sql), params)
        await s.rollback()
    return postgres_error(caught.value)


async def _counts(s: AsyncSession) -> tuple[int, int]:
    row = (
        await s.execute(
            text(
                "SELECT (SELECT count(*) FROM ledger_transfers), (SELECT count(*) FROM ledger_holds)"
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def test_a_transfer_must_name_accounts_of_its_asset_and_a_hold_that_exists(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, make_user: MakeUser
) -> None:
    acc = await _funded(session, await make_user())
    before = await _counts(session)
    good = {"id": "ok", "d": acc["available"], "c": acc["custody"], "asset": "TAO", "hold": None}
    for bad in (
        {"d": 10**9},  # no such account
        {"c": acc["sn1"]},  # an SN1 account in a TAO transfer
        {"hold": "nope"},  # no such hold
        {"asset": "SN1", "d": acc["sn1"], "c": acc["sn1_custody"], "hold": "h"},  # a TAO hold
    ):
        error = await _refused(sessionmaker, TRANSFER, {**good, **bad})
        assert (error.sqlstate, error.constraint_name) == ("23503", "ledger_transfers_references")
    # Several rows in one statement: one bad row refuses them all.
    many = TRANSFER.replace(
        "VALUES (:id, :d, :c, :asset, 5, 'test', :hold, gen_random_uuid())",
        "VALUES (:id, :d, :c, :asset, 5, 'test', :hold, gen_random_uuid()), "
        "('ok2', :d, 999999999, :asset, 5, 'test', NULL, gen_random_uuid())",
    )
    error = await _refused(sessionmaker, many, good)
    assert error.constraint_name == "ledger_transfers_references"
    assert await _counts(session) == before
    # A transfer and a hold with good references are checked by looking up what they name
    # among many holds: a check that read them all would cost more as history grows.
    await session.execute(
        text(
            "INSERT INTO ledger_holds SELECT (jsonb_populate_record(h, jsonb_build_object("
            "'id', 'many' || g))).* FROM ledger_holds h, generate_series(1, 500) g "
            "WHERE h.id = 'h'"
        )
    )
    read = await rows_read(session, "ledger_holds")
    await session.execute(text(TRANSFER), {**good, "hold": "h", "id": "ok-h"})
    await session.execute(
        text(HOLD), {"id": "h2", "u": acc["user"], "asset": "TAO", "held": acc["held"],
                     "available": acc["available"]}
    )  # fmt: skip
    # The one hold named, give or take versions earlier tests left (not the 500).
    assert await rows_read(session, "ledger_holds") - read < 50
    await session.rollback()
    # The same transfer alone is written.
    await session.execute(text(TRANSFER), good)
    await session.execute(
        text("UPDATE ledger_accounts SET balance = balance + 5 WHERE id = :c"), good
    )
    await session.execute(
        text("UPDATE ledger_accounts SET balance = balance - 5 WHERE id = :d"), good
    )
    await session.commit()
    assert await _counts(session) == (before[0] + 1, before[1])
    assert (await check_ledger(session)).ok


async def test_a_hold_must_be_between_its_users_held_and_available_of_its_asset(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, make_user: MakeUser
) -> None:
    user, other = await make_user(), await make_user()
    acc = await _funded(session, user)
    theirs = await L.user_account_ids(session, other, "TAO")
    await session.commit()
    good = {
        "id": "h2",
        "u": user,
        "asset": "TAO",
        "held": acc["held"],
        "available": acc["available"],
    }
    for bad in (
        {"held": theirs["held"]},  # another user's
        {"held": acc["available"], "available": acc["held"]},  # the kinds swapped
        {"available": acc["sn1"]},  # another asset
        {"held": 10**9},  # no such account
    ):
        error = await _refused(sessionmaker, HOLD, {**good, **bad})
        assert (error.sqlstate, error.constraint_name) == ("23503", "ledger_holds_references")


async def test_accounts_and_holds_are_kept(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, make_user: MakeUser
) -> None:
    acc = await _funded(session, await make_user())
    for sql in (
        "DELETE FROM ledger_accounts WHERE id = :a",
        "UPDATE ledger_accounts SET asset = 'SN1' WHERE id = :a",
        "UPDATE ledger_accounts SET kind = 'held' WHERE id = :a",
        "TRUNCATE ledger_accounts CASCADE",
        "DELETE FROM ledger_holds WHERE id = 'h'",
        "UPDATE ledger_holds SET account_id = :a WHERE id = 'h'",
        "TRUNCATE ledger_holds CASCADE",
    ):
        error = await _refused(sessionmaker, sql, {"a": acc["available"]})
        assert error.sqlstate == "23001", (sql, error)
    # What the ledger does to them still works: balances and hold counters change.
    await L.void_hold(session, "h")
    await session.commit()
    assert (await check_ledger(session)).ok


async def test_ledger_check_finds_a_reference_written_with_the_triggers_off(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, make_user: MakeUser
) -> None:
    acc = await _funded(session, await make_user())
    async with sessionmaker() as s:
        await s.execute(text("SET LOCAL session_replication_role = replica"))
        await s.execute(
            text(TRANSFER),
            {"id": "x", "d": acc["available"], "c": acc["sn1"], "asset": "TAO", "hold": None},
        )
        await s.execute(
            text(HOLD),
            {
                "id": "hx",
                "u": 1,
                "asset": "TAO",
                "held": acc["available"],
                "available": acc["held"],
            },
        )
        await s.commit()
    report = await check_ledger(session)
    refs = [v.detail for v in report.violations if v.invariant == "references"]
    assert refs == ["row_kind=hold, id=hx", "row_kind=transfer, id=x"], report.render()
