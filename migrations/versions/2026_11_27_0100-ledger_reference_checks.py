"""the ledger's references checked once per statement: a transfer's accounts (of its asset)
and hold, a hold's accounts (its user's `held` and `available` of its asset), by one
set-based query over the statement's new rows instead of a foreign-key trigger per row and
reference (three per transfer, four per hold: most of the order path's write time); the
rows they name can no longer be deleted, truncated or re-keyed

Each check looks up what a row names by its key: a nested loop of primary-key lookups, one
per new row and reference, whatever the tables' statistics say (PL/pgSQL keeps a query's
plan, and one made while a table was small, on a fresh database, hashed a full scan of it:
a cost that grew with the table's history).

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

TRANSFER_FKS = [
    ("fk_ledger_transfers_debit_account_id_ledger_accounts", "(debit_account_id, asset)",
     "ledger_accounts (id, asset)"),
    ("fk_ledger_transfers_credit_account_id_ledger_accounts", "(credit_account_id, asset)",
     "ledger_accounts (id, asset)"),
    ("fk_ledger_transfers_hold_id_ledger_holds", "(hold_id)", "ledger_holds (id)"),
]  # fmt: skip
HOLD_FKS = [
    ("fk_ledger_holds_account_id_ledger_accounts", "(account_id)", "ledger_accounts (id)"),
    ("fk_ledger_holds_available_account_id_ledger_accounts", "(available_account_id)",
     "ledger_accounts (id)"),
    ("fk_ledger_holds_asset_assets", "(asset)", "assets (code)"),
    ("fk_ledger_holds_user_id_users", "(user_id)", "users (id)"),
]  # fmt: skip

UPGRADE = [
    """
    CREATE FUNCTION ledger_transfers_references() RETURNS trigger LANGUAGE plpgsql
        SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
    DECLARE
        bad text;
    BEGIN
        SELECT n.id INTO bad FROM new_rows n
        LEFT JOIN ledger_accounts d ON d.id = n.debit_account_id
        LEFT JOIN ledger_accounts c ON c.id = n.credit_account_id
        LEFT JOIN ledger_holds h ON h.id = n.hold_id
        WHERE d.id IS NULL OR d.asset <> n.asset OR c.id IS NULL OR c.asset <> n.asset
           OR (n.hold_id IS NOT NULL AND (h.id IS NULL OR h.asset <> n.asset))
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'ledger transfer % names an account or a hold that does not exist '
                            'or is of another asset', bad
                USING ERRCODE = 'foreign_key_violation',
                      CONSTRAINT = 'ledger_transfers_references';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER ledger_transfers_references AFTER INSERT ON ledger_transfers
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_transfers_references()
    """,
    """
    CREATE FUNCTION ledger_holds_references() RETURNS trigger LANGUAGE plpgsql
        SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
    DECLARE
        bad text;
    BEGIN
        SELECT n.id INTO bad FROM new_rows n
        LEFT JOIN ledger_accounts h ON h.id = n.account_id
        LEFT JOIN ledger_accounts a ON a.id = n.available_account_id
        WHERE h.id IS NULL OR h.user_id IS DISTINCT FROM n.user_id OR h.asset <> n.asset
           OR h.kind <> 'held'
           OR a.id IS NULL OR a.user_id IS DISTINCT FROM n.user_id OR a.asset <> n.asset
           OR a.kind <> 'available'
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'ledger hold % must be between its user''s held and available '
                            'accounts of its asset', bad
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'ledger_holds_references';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER ledger_holds_references AFTER INSERT ON ledger_holds
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_holds_references()
    """,
    """

    -- What the checks rely on: the rows they find stay (nothing in the exchange deletes an
    -- account or a hold) and keep the keys and owners they were found with.
    CREATE FUNCTION rows_kept() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% rows are never deleted, truncated or re-keyed', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation', CONSTRAINT = TG_TABLE_NAME || '_kept';
    END $$
    """,
    """
    CREATE TRIGGER ledger_accounts_kept
        BEFORE DELETE OR UPDATE OF id, user_id, asset, kind ON ledger_accounts
        FOR EACH ROW EXECUTE FUNCTION rows_kept()
    """,
    """
    CREATE TRIGGER ledger_accounts_kept_truncate BEFORE TRUNCATE ON ledger_accounts
        FOR EACH STATEMENT EXECUTE FUNCTION rows_kept()
    """,
    """
    CREATE TRIGGER ledger_holds_kept
        BEFORE DELETE OR UPDATE OF id, user_id, asset, account_id, available_account_id
        ON ledger_holds FOR EACH ROW EXECUTE FUNCTION rows_kept()
    """,
    """
    CREATE TRIGGER ledger_holds_kept_truncate BEFORE TRUNCATE ON ledger_holds
        FOR EACH STATEMENT EXECUTE FUNCTION rows_kept()
    """,
]

DOWNGRADE = [
    """
    DROP TRIGGER ledger_holds_kept_truncate ON ledger_holds
    """,
    """
    DROP TRIGGER ledger_holds_kept ON ledger_holds
    """,
    """
    DROP TRIGGER ledger_accounts_kept_truncate ON ledger_accounts
    """,
    """
    DROP TRIGGER ledger_accounts_kept ON ledger_accounts
    """,
    """
    DROP FUNCTION rows_kept()
    """,
    """
    DROP TRIGGER ledger_holds_references ON ledger_holds
    """,
    """
    DROP FUNCTION ledger_holds_references()
    """,
    """
    DROP TRIGGER ledger_transfers_references ON ledger_transfers
    """,
    """
    DROP FUNCTION ledger_transfers_references()
    """,
]


def upgrade() -> None:
    for name, _, _ in TRANSFER_FKS:
        op.drop_constraint(name, "ledger_transfers", type_="foreignkey")
    for name, _, _ in HOLD_FKS:
        op.drop_constraint(name, "ledger_holds", type_="foreignkey")
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
    for table, fks in (("ledger_holds", HOLD_FKS), ("ledger_transfers", TRANSFER_FKS)):
        for name, columns, target in fks:
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY {columns} "
                       f"REFERENCES {target}")  # fmt: skip
