"""references checked once per statement on the order path's tables: a ledger transfer's
accounts (of its asset) and hold, a hold's accounts (its user's `held` and `available` of
its asset), an order's user and market, a fill's orders (of its market, its maker's and its
taker's); by one query over the statement's new rows (a transition table) instead of a
foreign-key trigger per row and reference (about 300 per order group: a third of its write
time). The rows they name are kept: never deleted, truncated or re-keyed.

Each check looks up what a row names by its key alone (a nested loop of primary-key
lookups, whatever the tables' statistics say) and compares the rest: PL/pgSQL keeps a
query's plan, and plans made on a fresh database hashed a full scan of a table, or found a
fill's orders through the user's orders index, costs that grew with history.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27 01:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, constraint, columns, referenced): the foreign keys the checks replace.
FKS = [
    ("ledger_transfers", "fk_ledger_transfers_debit_account_id_ledger_accounts",
     "(debit_account_id, asset)", "ledger_accounts (id, asset)"),
    ("ledger_transfers", "fk_ledger_transfers_credit_account_id_ledger_accounts",
     "(credit_account_id, asset)", "ledger_accounts (id, asset)"),
    ("ledger_transfers", "fk_ledger_transfers_hold_id_ledger_holds", "(hold_id)",
     "ledger_holds (id)"),
    ("ledger_holds", "fk_ledger_holds_account_id_ledger_accounts", "(account_id)",
     "ledger_accounts (id)"),
    ("ledger_holds", "fk_ledger_holds_available_account_id_ledger_accounts",
     "(available_account_id)", "ledger_accounts (id)"),
    ("ledger_holds", "fk_ledger_holds_asset_assets", "(asset)", "assets (code)"),
    ("ledger_holds", "fk_ledger_holds_user_id_users", "(user_id)", "users (id)"),
    ("orders", "fk_orders_market_id_markets", "(market_id)", "markets (id)"),
    ("orders", "fk_orders_user_id_users", "(user_id)", "users (id)"),
    ("fills", "fk_fills_maker_order_id_orders", "(maker_order_id)", "orders (id)"),
    ("fills", "fk_fills_market_id_markets", "(market_id)", "markets (id)"),
    ("fills", "fk_fills_taker_order_id_orders", "(taker_order_id)", "orders (id)"),
]  # fmt: skip

# The target of the transfers' composite foreign keys, (id, asset).
ACCOUNT_ASSET = "uq_ledger_accounts_id_asset"

# (table, joins and condition of a bad new row `n`, what the error says of it)
CHECKS = [
    (
        "ledger_transfers",
        """
        LEFT JOIN ledger_accounts d ON d.id = n.debit_account_id
        LEFT JOIN ledger_accounts c ON c.id = n.credit_account_id
        LEFT JOIN ledger_holds h ON h.id = n.hold_id
        WHERE d.id IS NULL OR d.asset <> n.asset OR c.id IS NULL OR c.asset <> n.asset
           OR (n.hold_id IS NOT NULL AND (h.id IS NULL OR h.asset <> n.asset))
        """,
        "names an account or a hold that does not exist or is of another asset",
    ),
    (
        "ledger_holds",
        """
        LEFT JOIN ledger_accounts h ON h.id = n.account_id
        LEFT JOIN ledger_accounts a ON a.id = n.available_account_id
        WHERE h.id IS NULL OR h.user_id IS DISTINCT FROM n.user_id OR h.asset <> n.asset
           OR h.kind <> 'held'
           OR a.id IS NULL OR a.user_id IS DISTINCT FROM n.user_id OR a.asset <> n.asset
           OR a.kind <> 'available'
        """,
        "is not between its user's held and available accounts of its asset",
    ),
    (
        "orders",
        """
        LEFT JOIN users u ON u.id = n.user_id
        LEFT JOIN markets m ON m.id = n.market_id
        WHERE u.id IS NULL OR m.id IS NULL
        """,
        "names a user or a market that does not exist",
    ),
    (
        "fills",
        """
        LEFT JOIN orders m ON m.id = n.maker_order_id
        LEFT JOIN orders t ON t.id = n.taker_order_id
        WHERE m.id IS NULL OR m.market_id <> n.market_id OR m.user_id <> n.maker_user_id
           OR t.id IS NULL OR t.market_id <> n.market_id OR t.user_id <> n.taker_user_id
        """,
        "names an order that does not exist, is of another market or is not its maker's or taker's",
    ),
]

# Referenced tables and the columns the checks rely on: kept as they are.
KEPT = {
    "ledger_accounts": "id, user_id, asset, kind",
    "ledger_holds": "id, user_id, asset, account_id, available_account_id",
    "users": "id",
    "markets": "id",
    "orders": "id, user_id, market_id",
}


def _check(table: str, where: str, says: str) -> list[str]:
    message = f"{table} row % {says}".replace("'", "''")
    return [
        f"""
        CREATE FUNCTION {table}_references() RETURNS trigger LANGUAGE plpgsql
            SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
        AS $$
        DECLARE
            bad text;
        BEGIN
            SELECT n.id::text INTO bad FROM new_rows n {where} LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION '{message}', bad
                    USING ERRCODE = 'foreign_key_violation',
                          CONSTRAINT = '{table}_references';
            END IF;
            RETURN NULL;
        END $$
        """,
        f"""
        CREATE TRIGGER {table}_references AFTER INSERT ON {table}
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION {table}_references()
        """,
    ]


def upgrade() -> None:
    for table, name, _, _ in FKS:
        op.drop_constraint(name, table, type_="foreignkey")
    # Only the transfers' composite foreign keys needed it: the primary key makes it so.
    op.drop_constraint(ACCOUNT_ASSET, "ledger_accounts", type_="unique")
    for table, where, says in CHECKS:
        for statement in _check(table, where, says):
            op.execute(statement)
    op.execute(
        """
        CREATE FUNCTION rows_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% rows are never deleted, truncated or re-keyed', TG_TABLE_NAME
                USING ERRCODE = 'restrict_violation', CONSTRAINT = TG_TABLE_NAME || '_kept';
        END $$
        """
    )
    for table, columns in KEPT.items():
        op.execute(
            f"CREATE TRIGGER {table}_kept BEFORE DELETE OR UPDATE OF {columns} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION rows_kept()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_kept_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION rows_kept()"
        )


def downgrade() -> None:
    for table in KEPT:
        op.execute(f"DROP TRIGGER {table}_kept_truncate ON {table}")
        op.execute(f"DROP TRIGGER {table}_kept ON {table}")
    op.execute("DROP FUNCTION rows_kept()")
    for table, _, _ in CHECKS:
        op.execute(f"DROP TRIGGER {table}_references ON {table}")
        op.execute(f"DROP FUNCTION {table}_references()")
    op.create_unique_constraint(ACCOUNT_ASSET, "ledger_accounts", ["id", "asset"])
    for table, name, columns, target in FKS:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY {columns} REFERENCES {target}"
        )
