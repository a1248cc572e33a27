"""ledger: assets, accounts, transfers, holds, deposits, withdrawals

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 03:26:20.958758+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=True),
        sa.Column("decimals", sa.SmallInteger(), server_default="9", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("code ~ '^[A-Z0-9]{1,16}$'", name=op.f("ck_assets_code_format")),
        sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f("ck_assets_known_status")),
        sa.CheckConstraint("decimals BETWEEN 0 AND 18", name=op.f("ck_assets_decimals_range")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_assets")),
    )
    op.create_table(
        "deposits",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("external_ref", sa.String(length=128), nullable=False),
        sa.Column("transfer_id", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_deposits_amount_positive")),
        sa.ForeignKeyConstraint(["asset"], ["assets.code"], name=op.f("fk_deposits_asset_assets")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_deposits_created_by_users")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_deposits_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deposits")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_deposits_external_ref")),
    )
    op.create_index(op.f("ix_deposits_user_id"), "deposits", ["user_id"], unique=False)
    op.create_table(
        "ledger_accounts",
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("balance", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("allow_negative", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(user_id IS NULL) = (kind IN ('custody','fees','rounding'))",
            name=op.f("ck_ledger_accounts_system_kinds"),
        ),
        sa.CheckConstraint(
            "kind IN ('available','held','staked','custody','fees','rounding')",
            name=op.f("ck_ledger_accounts_known_kind"),
        ),
        sa.CheckConstraint(
            "NOT allow_negative OR user_id IS NULL",
            name=op.f("ck_ledger_accounts_only_system_negative"),
        ),
        sa.CheckConstraint(
            "allow_negative OR balance >= 0", name=op.f("ck_ledger_accounts_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["asset"], ["assets.code"], name=op.f("fk_ledger_accounts_asset_assets")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ledger_accounts_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("id", "asset", name="uq_ledger_accounts_id_asset"),
        sa.UniqueConstraint("user_id", "asset", "kind", name="uq_ledger_accounts_owner_asset_kind"),
    )
    op.create_index(
        "uq_ledger_accounts_system",
        "ledger_accounts",
        ["asset", "kind"],
        unique=True,
        postgresql_where=sa.text("user_id IS NULL"),
    )
    op.create_table(
        "ledger_holds",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("available_account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("consumed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("released", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(state = 'pending') = (resolved_at IS NULL)",
            name=op.f("ck_ledger_holds_resolved_at_state"),
        ),
        sa.CheckConstraint(
            "state = 'pending' OR consumed + released = amount",
            name=op.f("ck_ledger_holds_resolved_fully"),
        ),
        sa.CheckConstraint(
            "state IN ('pending','posted','voided')", name=op.f("ck_ledger_holds_known_state")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_holds_amount_positive")),
        sa.CheckConstraint(
            "consumed + released <= amount", name=op.f("ck_ledger_holds_not_over_consumed")
        ),
        sa.CheckConstraint(
            "consumed >= 0 AND released >= 0", name=op.f("ck_ledger_holds_counters_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_holds_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["asset"], ["assets.code"], name=op.f("fk_ledger_holds_asset_assets")
        ),
        sa.ForeignKeyConstraint(
            ["available_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_holds_available_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_ledger_holds_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_holds")),
    )
    op.create_index(op.f("ix_ledger_holds_user_id"), "ledger_holds", ["user_id"], unique=False)
    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("debit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("credit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=True),
        sa.Column("hold_id", sa.String(length=64), nullable=True),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_transfers_amount_positive")),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id",
            name=op.f("ck_ledger_transfers_distinct_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id", "asset"],
            ["ledger_accounts.id", "ledger_accounts.asset"],
            name="fk_ledger_transfers_credit_account_id_ledger_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["debit_account_id", "asset"],
            ["ledger_accounts.id", "ledger_accounts.asset"],
            name="fk_ledger_transfers_debit_account_id_ledger_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["ledger_holds.id"], name=op.f("fk_ledger_transfers_hold_id_ledger_holds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfers")),
    )
    op.create_index(
        "ix_ledger_transfers_credit_seq",
        "ledger_transfers",
        ["credit_account_id", "seq"],
        unique=False,
    )
    op.create_index(
        "ix_ledger_transfers_debit_seq",
        "ledger_transfers",
        ["debit_account_id", "seq"],
        unique=False,
    )
    op.create_index(
        "ix_ledger_transfers_hold_id",
        "ledger_transfers",
        ["hold_id"],
        unique=False,
        postgresql_where=sa.text("hold_id IS NOT NULL"),
    )
    op.create_table(
        "withdrawals",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("hold_id", sa.String(length=64), nullable=False),
        sa.Column("external_tx_ref", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(state = 'pending') = (resolved_at IS NULL)",
            name=op.f("ck_withdrawals_resolved_at_state"),
        ),
        sa.CheckConstraint(
            "state <> 'approved' OR external_tx_ref IS NOT NULL",
            name=op.f("ck_withdrawals_approved_has_tx_ref"),
        ),
        sa.CheckConstraint(
            "state IN ('pending','approved','rejected','cancelled')",
            name=op.f("ck_withdrawals_known_state"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_withdrawals_amount_positive")),
        sa.ForeignKeyConstraint(
            ["asset"], ["assets.code"], name=op.f("fk_withdrawals_asset_assets")
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["ledger_holds.id"], name=op.f("fk_withdrawals_hold_id_ledger_holds")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_withdrawals_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawals")),
        sa.UniqueConstraint("hold_id", name=op.f("uq_withdrawals_hold_id")),
    )
    op.create_index("ix_withdrawals_user_id_id", "withdrawals", ["user_id", "id"], unique=False)

    # A resolved hold is immutable (so it is never resolved twice), and transfers are
    # append-only: the CHECKs cannot see the old row, so triggers enforce both.
    op.execute(
        """
        CREATE FUNCTION ledger_holds_resolved_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.state <> 'pending' THEN
                RAISE EXCEPTION 'ledger hold % is already %', OLD.id, OLD.state
                    USING ERRCODE = 'check_violation',
                          CONSTRAINT = 'ledger_holds_resolved_once';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER ledger_holds_resolved_once BEFORE UPDATE ON ledger_holds "
        "FOR EACH ROW EXECUTE FUNCTION ledger_holds_resolved_once()"
    )
    op.execute(
        """
        CREATE FUNCTION ledger_transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'ledger transfers are immutable'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_transfers_immutable';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON ledger_transfers "
        "FOR EACH ROW EXECUTE FUNCTION ledger_transfers_immutable()"
    )
    op.execute("INSERT INTO assets (code, name, netuid, decimals) VALUES ('TAO', 'TAO', NULL, 9)")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS ledger_transfers_immutable ON ledger_transfers")
    op.execute("DROP FUNCTION IF EXISTS ledger_transfers_immutable()")
    op.execute("DROP TRIGGER IF EXISTS ledger_holds_resolved_once ON ledger_holds")
    op.execute("DROP FUNCTION IF EXISTS ledger_holds_resolved_once()")
    op.drop_index("ix_withdrawals_user_id_id", table_name="withdrawals")
    op.drop_table("withdrawals")
    op.drop_index(
        "ix_ledger_transfers_hold_id",
        table_name="ledger_transfers",
        postgresql_where=sa.text("hold_id IS NOT NULL"),
    )
    op.drop_index("ix_ledger_transfers_debit_seq", table_name="ledger_transfers")
    op.drop_index("ix_ledger_transfers_credit_seq", table_name="ledger_transfers")
    op.drop_table("ledger_transfers")
    op.drop_index(op.f("ix_ledger_holds_user_id"), table_name="ledger_holds")
    op.drop_table("ledger_holds")
    op.drop_index(
        "uq_ledger_accounts_system",
        table_name="ledger_accounts",
        postgresql_where=sa.text("user_id IS NULL"),
    )
    op.drop_table("ledger_accounts")
    op.drop_index(op.f("ix_deposits_user_id"), table_name="deposits")
    op.drop_table("deposits")
    op.drop_table("assets")
