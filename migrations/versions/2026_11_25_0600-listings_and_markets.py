"""listings and markets

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 03:43:21.179977+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "markets",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("base_asset", sa.String(length=16), nullable=False),
        sa.Column("quote_asset", sa.String(length=16), nullable=False),
        sa.Column("subnet_id", sa.BigInteger(), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tick_size", sa.BigInteger(), nullable=False),
        sa.Column("lot_size", sa.BigInteger(), nullable=False),
        sa.Column("min_size", sa.BigInteger(), nullable=False),
        sa.Column("min_notional", sa.BigInteger(), nullable=False),
        sa.Column("maker_fee_bps", sa.Integer(), nullable=False),
        sa.Column("taker_fee_bps", sa.Integer(), nullable=False),
        sa.Column("price_band_bps", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('trading', 'post_only', 'cancel_only', 'halted', 'delisted')",
            name=op.f("ck_markets_known_state"),
        ),
        sa.CheckConstraint("lot_size > 0", name=op.f("ck_markets_lot_positive")),
        sa.CheckConstraint(
            "maker_fee_bps BETWEEN 0 AND 1000", name=op.f("ck_markets_maker_fee_range")
        ),
        sa.CheckConstraint("min_notional >= 0", name=op.f("ck_markets_min_notional_non_negative")),
        sa.CheckConstraint("min_size >= lot_size", name=op.f("ck_markets_min_size_at_least_lot")),
        sa.CheckConstraint(
            "price_band_bps BETWEEN 1 AND 10000", name=op.f("ck_markets_price_band_range")
        ),
        sa.CheckConstraint(
            "taker_fee_bps BETWEEN 0 AND 1000", name=op.f("ck_markets_taker_fee_range")
        ),
        sa.CheckConstraint("tick_size > 0", name=op.f("ck_markets_tick_positive")),
        sa.ForeignKeyConstraint(
            ["base_asset"], ["assets.code"], name=op.f("fk_markets_base_asset_assets")
        ),
        sa.ForeignKeyConstraint(
            ["quote_asset"], ["assets.code"], name=op.f("fk_markets_quote_asset_assets")
        ),
        sa.ForeignKeyConstraint(
            ["subnet_id"], ["subnets.id"], name=op.f("fk_markets_subnet_id_subnets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_markets")),
        sa.UniqueConstraint("base_asset", name=op.f("uq_markets_base_asset")),
        sa.UniqueConstraint("subnet_id", name=op.f("uq_markets_subnet_id")),
        sa.UniqueConstraint("symbol", name=op.f("uq_markets_symbol")),
    )
    op.create_table(
        "audit_log",
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_key_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["actor_key_id"], ["api_keys.id"], name=op.f("fk_audit_log_actor_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_audit_log_actor_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"], unique=False)
    op.create_table(
        "listings",
        sa.Column("subnet_id", sa.BigInteger(), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("market_id", sa.BigInteger(), nullable=True),
        sa.Column("reviewed_by", sa.BigInteger(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('candidate', 'approved', 'rejected')", name=op.f("ck_listings_known_state")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_listings_market_id_markets")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["users.id"], name=op.f("fk_listings_reviewed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["subnet_id"],
            ["subnets.id"],
            name=op.f("fk_listings_subnet_id_subnets"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listings")),
        sa.UniqueConstraint("subnet_id", name=op.f("uq_listings_subnet_id")),
    )
    op.create_index(op.f("ix_listings_netuid"), "listings", ["netuid"], unique=False)
    op.create_index(op.f("ix_listings_state"), "listings", ["state"], unique=False)

    # The audit log is append-only: no UPDATE or DELETE, whoever asks.
    op.execute(
        "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_index(op.f("ix_listings_state"), table_name="listings")
    op.drop_index(op.f("ix_listings_netuid"), table_name="listings")
    op.drop_table("listings")
    op.drop_index(op.f("ix_audit_log_action"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("markets")
