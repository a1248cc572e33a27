"""stop orders (stop-loss, take-profit) and order history by time

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 11:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "orders", "status", type_=sa.String(length=12), existing_type=sa.String(length=10)
    )
    op.add_column("orders", sa.Column("trigger", sa.String(length=16), nullable=True))
    op.add_column("orders", sa.Column("trigger_price", sa.BigInteger(), nullable=True))
    op.add_column("orders", sa.Column("triggered_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f("ck_orders_known_status"), "orders", type_="check")
    op.create_check_constraint(
        op.f("ck_orders_known_status"),
        "orders",
        "status IN ('open', 'filled', 'cancelled', 'untriggered')",
    )
    op.create_check_constraint(
        op.f("ck_orders_known_trigger"),
        "orders",
        "trigger IS NULL OR trigger IN ('stop_loss', 'take_profit')",
    )
    op.create_check_constraint(
        op.f("ck_orders_trigger_with_price"),
        "orders",
        "(trigger IS NULL) = (trigger_price IS NULL) AND (trigger_price IS NULL OR "
        "trigger_price > 0)",
    )
    op.create_check_constraint(
        op.f("ck_orders_untriggered_is_a_stop"),
        "orders",
        "status <> 'untriggered' OR trigger IS NOT NULL",
    )
    op.drop_index("uq_orders_open_client_order_id", table_name="orders")
    op.create_index(
        "uq_orders_open_client_order_id",
        "orders",
        ["user_id", "client_order_id"],
        unique=True,
        postgresql_where=sa.text(
            "status IN ('open', 'untriggered') AND client_order_id IS NOT NULL"
        ),
    )
    op.drop_index("ix_orders_open_market", table_name="orders")
    op.create_index(
        "ix_orders_open_market",
        "orders",
        ["market_id"],
        unique=False,
        postgresql_where=sa.text("status IN ('open', 'untriggered')"),
    )
    op.create_index(
        "ix_orders_user_created_id", "orders", ["user_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_orders_user_closed_id",
        "orders",
        ["user_id", "closed_at", "id"],
        unique=False,
        postgresql_where=sa.text("closed_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.execute(
        "UPDATE orders SET status = 'cancelled', closed_at = now() WHERE status = 'untriggered'"
    )
    op.drop_index("ix_orders_user_closed_id", table_name="orders")
    op.drop_index("ix_orders_user_created_id", table_name="orders")
    op.drop_index("ix_orders_open_market", table_name="orders")
    op.create_index(
        "ix_orders_open_market",
        "orders",
        ["market_id"],
        unique=False,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.drop_index("uq_orders_open_client_order_id", table_name="orders")
    op.create_index(
        "uq_orders_open_client_order_id",
        "orders",
        ["user_id", "client_order_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open' AND client_order_id IS NOT NULL"),
    )
    op.drop_constraint(op.f("ck_orders_untriggered_is_a_stop"), "orders", type_="check")
    op.drop_constraint(op.f("ck_orders_trigger_with_price"), "orders", type_="check")
    op.drop_constraint(op.f("ck_orders_known_trigger"), "orders", type_="check")
    op.drop_constraint(op.f("ck_orders_known_status"), "orders", type_="check")
    op.create_check_constraint(
        op.f("ck_orders_known_status"), "orders", "status IN ('open', 'filled', 'cancelled')"
    )
    op.drop_column("orders", "triggered_at")
    op.drop_column("orders", "trigger_price")
    op.drop_column("orders", "trigger")
    op.alter_column(
        "orders", "status", type_=sa.String(length=10), existing_type=sa.String(length=12)
    )
