"""Orders' and fills' references, checked once per statement (migration 0021): an order's
user and market; a fill's orders, of its market and owned by its maker and taker. A write
that breaks one is refused whole; the users, markets and orders they name are kept."""

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SignedFactory
from tests.orders.conftest import ALPHA, PRICE, TAO, Market, counts, ledger_ok, limit
from tests.pgstats import postgres_error, rows_read


async def _refused(db: AsyncEngine, *statements: str) -> asyncpg.PostgresError:
    """The error of the last statement (the others prepare it); nothing stays written."""
    async with db.connect() as conn:
        with pytest.raises(DBAPIError) as caught:
            for sql in statements:
                await conn.execute(text(sql))
        await conn.rollback()
    return postgres_error(caught.value)


def _copy(table: str, row_id: int, changes: str) -> tuple[str, ...]:
    """Statements that insert a copy of a row, with `changes` (an UPDATE's SET list)."""
    return (
        f"CREATE TEMP TABLE c ON COMMIT DROP AS SELECT * FROM {table} WHERE id = {row_id}",
        f"UPDATE c SET {changes}",
        f"INSERT INTO {table} SELECT * FROM c",
    )


async def test_orders_and_fills_must_name_what_exists_and_belongs_to_them(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    alice = await market.trader(signed, tao=0, alpha=10 * ALPHA)
    bob = await market.trader(signed, tao=10 * TAO, alpha=0)
    ask = (await alice.post("/v1/orders", limit("sell", PRICE, 4 * ALPHA))).json()
    bid = (await bob.post("/v1/orders", limit("buy", PRICE, 3 * ALPHA))).json()
    assert bid["status"] == "filled"
    async with db.connect() as conn:
        fill = int(await conn.scalar(text("SELECT id FROM fills")) or 0)
    before = await counts(db)

    for changes in ("id = id + 100, user_id = 999999", "id = id + 100, market_id = 999999"):
        error = await _refused(db, *_copy("orders", int(ask["id"]), changes))
        assert (error.sqlstate, error.constraint_name) == ("23503", "orders_references")
    for changes in (
        "id = id + 100, match_id = match_id + 100, maker_order_id = 999999",
        f"id = id + 100, match_id = match_id + 100, maker_user_id = {bob.user_id}",
        f"id = id + 100, match_id = match_id + 100, taker_user_id = {alice.user_id}",
        "id = id + 100, match_id = match_id + 100, maker_order_id = taker_order_id",
    ):
        error = await _refused(db, *_copy("fills", fill, changes))
        assert (error.sqlstate, error.constraint_name) == ("23503", "fills_references"), changes
    assert await counts(db) == before

    # A correct copy of the fill (another match of the same orders) is written, checked by
    # looking up its two orders among many: a check that read them all would cost more as
    # history grows.
    async with db.connect() as conn:
        await conn.execute(
            text(
                "INSERT INTO orders SELECT (jsonb_populate_record(o, jsonb_build_object("
                "'id', o.id + 1000 + g, 'client_order_id', NULL))).* "
                "FROM orders o, generate_series(1, 500) g WHERE o.id = :id"
            ),
            {"id": int(ask["id"])},
        )
        read = await rows_read(conn, "orders")
        for sql in _copy("fills", fill, "id = id + 100, match_id = match_id + 100"):
            await conn.execute(text(sql))
        # Its two orders, give or take versions earlier tests left (not the 500).
        assert await rows_read(conn, "orders") - read < 50
        await conn.rollback()
    async with db.begin() as conn:
        for sql in _copy("fills", fill, "id = id + 100, match_id = match_id + 100"):
            await conn.execute(text(sql))
    assert (await counts(db))["fills"] == before["fills"] + 1


async def test_users_markets_and_orders_are_kept(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    alice = await market.trader(signed, tao=0, alpha=10 * ALPHA)
    ask = (await alice.post("/v1/orders", limit("sell", PRICE, 4 * ALPHA))).json()
    for sql in (
        f"DELETE FROM orders WHERE id = {ask['id']}",
        f"UPDATE orders SET user_id = {market.admin.user_id} WHERE id = {ask['id']}",
        "TRUNCATE orders CASCADE",
        f"DELETE FROM users WHERE id = {alice.user_id}",
        "DELETE FROM markets",
        "UPDATE markets SET id = id + 1",
    ):
        error = await _refused(db, sql)
        assert error.sqlstate == "23001", (sql, error)
    # What the exchange does to them still works: the order is cancelled, its hold released.
    r = await alice.delete(f"/v1/orders/{ask['id']}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    await ledger_ok(db)
