"""orders and fills

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-25 03:52:57.747243+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("market_id", sa.BigInteger(), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("time_in_force", sa.String(length=4), nullable=False),
        sa.Column("post_only", sa.Boolean(), nullable=False),
        sa.Column("stp", sa.String(length=16), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("qty", sa.BigInteger(), nullable=True),
        sa.Column("quote_budget", sa.BigInteger(), nullable=True),
        sa.Column("filled_qty", sa.BigInteger(), nullable=False),
        sa.Column("filled_quote", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("cancel_reason", sa.String(length=32), nullable=True),
        sa.Column("hold_id", sa.String(length=64), nullable=False),
        sa.Column("hold_amount", sa.BigInteger(), nullable=False),
        sa.Column("priority_ts", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_orders_known_side")),
        sa.CheckConstraint(
            "status IN ('open', 'filled', 'cancelled')", name=op.f("ck_orders_known_status")
        ),
        sa.CheckConstraint("type IN ('limit', 'market')", name=op.f("ck_orders_known_type")),
        sa.CheckConstraint(
            "filled_qty >= 0 AND filled_quote >= 0 AND fee >= 0",
            name=op.f("ck_orders_fills_non_negative"),
        ),
        sa.CheckConstraint(
            "qty IS NULL OR filled_qty <= qty", name=op.f("ck_orders_not_overfilled")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_orders_market_id_markets")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_orders_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index(
        "ix_orders_open_market",
        "orders",
        ["market_id"],
        unique=False,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_orders_user_status_id", "orders", ["user_id", "status", "id"], unique=False)
    op.create_index(
        "uq_orders_open_client_order_id",
        "orders",
        ["user_id", "client_order_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open' AND client_order_id IS NOT NULL"),
    )
    op.create_table(
        "fills",
        sa.Column("market_id", sa.BigInteger(), nullable=False),
        sa.Column("match_id", sa.BigInteger(), nullable=False),
        sa.Column("maker_order_id", sa.BigInteger(), nullable=False),
        sa.Column("taker_order_id", sa.BigInteger(), nullable=False),
        sa.Column("maker_user_id", sa.BigInteger(), nullable=False),
        sa.Column("taker_user_id", sa.BigInteger(), nullable=False),
        sa.Column("taker_side", sa.String(length=4), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("quote", sa.BigInteger(), nullable=False),
        sa.Column("maker_fee", sa.BigInteger(), nullable=False),
        sa.Column("taker_fee", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["maker_order_id"], ["orders.id"], name=op.f("fk_fills_maker_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_fills_market_id_markets")
        ),
        sa.ForeignKeyConstraint(
            ["taker_order_id"], ["orders.id"], name=op.f("fk_fills_taker_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("market_id", "match_id", name=op.f("uq_fills_market_id")),
    )
    op.create_index("ix_fills_maker_user_id", "fills", ["maker_user_id", "id"], unique=False)
    op.create_index("ix_fills_market_id_id", "fills", ["market_id", "id"], unique=False)
    op.create_index("ix_fills_taker_user_id", "fills", ["taker_user_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_fills_taker_user_id", table_name="fills")
    op.drop_index("ix_fills_market_id_id", table_name="fills")
    op.drop_index("ix_fills_maker_user_id", table_name="fills")
    op.drop_table("fills")
    op.drop_index(
        "uq_orders_open_client_order_id",
        table_name="orders",
        postgresql_where=sa.text("status = 'open' AND client_order_id IS NOT NULL"),
    )
    op.drop_index("ix_orders_user_status_id", table_name="orders")
    op.drop_index(
        "ix_orders_open_market", table_name="orders", postgresql_where=sa.text("status = 'open'")
    )
    op.drop_table("orders")
