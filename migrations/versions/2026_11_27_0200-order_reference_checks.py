"""orders' and fills' references checked once per statement, as the ledger's are (0021): an
order's user and market, a fill's market and both orders (of that market, owned by the
fill's maker and taker), by one set-based query over the statement's new rows instead of
five foreign-key triggers per order and fill; the users, markets and orders they name are
kept (never deleted, truncated or re-keyed); like 0021's, each check looks up what a row
names by its key (nested loops of primary-key lookups, whatever the statistics: a plan
made on a fresh database once found a fill's orders through the user's orders index, which
reads more of them as history grows)

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-27 02:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FKS = [
    ("orders", "fk_orders_market_id_markets", "(market_id)", "markets (id)"),
    ("orders", "fk_orders_user_id_users", "(user_id)", "users (id)"),
    ("fills", "fk_fills_maker_order_id_orders", "(maker_order_id)", "orders (id)"),
    ("fills", "fk_fills_market_id_markets", "(market_id)", "markets (id)"),
    ("fills", "fk_fills_taker_order_id_orders", "(taker_order_id)", "orders (id)"),
]
KEPT = {"users": "id", "markets": "id", "orders": "id, user_id, market_id"}

UPGRADE = [
    """
    CREATE FUNCTION orders_references() RETURNS trigger LANGUAGE plpgsql
        SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
    DECLARE
        bad bigint;
    BEGIN
        SELECT n.id INTO bad FROM new_rows n
        LEFT JOIN users u ON u.id = n.user_id
        LEFT JOIN markets m ON m.id = n.market_id
        WHERE u.id IS NULL OR m.id IS NULL
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'order % names a user or a market that does not exist', bad
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'orders_references';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER orders_references AFTER INSERT ON orders
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION orders_references()
    """,
    """
    CREATE FUNCTION fills_references() RETURNS trigger LANGUAGE plpgsql
        SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
    DECLARE
        bad bigint;
    BEGIN
        SELECT n.id INTO bad FROM new_rows n
        LEFT JOIN orders m ON m.id = n.maker_order_id
        LEFT JOIN orders t ON t.id = n.taker_order_id
        WHERE m.id IS NULL OR m.market_id <> n.market_id OR m.user_id <> n.maker_user_id
           OR t.id IS NULL OR t.market_id <> n.market_id OR t.user_id <> n.taker_user_id
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'fill % names an order that does not exist, is of another market '
                            'or is not its maker''s or taker''s', bad
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fills_references';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER fills_references AFTER INSERT ON fills
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION fills_references()
    """,
    *(
        f"""
        CREATE TRIGGER {table}_kept BEFORE DELETE OR UPDATE OF {columns} ON {table}
            FOR EACH ROW EXECUTE FUNCTION rows_kept()
        """
        for table, columns in KEPT.items()
    ),
    *(
        f"""
        CREATE TRIGGER {table}_kept_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION rows_kept()
        """
        for table in KEPT
    ),
]

DOWNGRADE = [
    *(f"DROP TRIGGER {table}_kept_truncate ON {table}" for table in KEPT),
    *(f"DROP TRIGGER {table}_kept ON {table}" for table in KEPT),
    "DROP TRIGGER fills_references ON fills",
    "DROP FUNCTION fills_references()",
    "DROP TRIGGER orders_references ON orders",
    "DROP FUNCTION orders_references()",
]


def upgrade() -> None:
    for table, name, _, _ in FKS:
        op.drop_constraint(name, table, type_="foreignkey")
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
    for table, name, columns, target in FKS:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY {columns} REFERENCES {target}"
        )
