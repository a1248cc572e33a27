"""trailing stops

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 15:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("trail_offset", sa.BigInteger(), nullable=True))
    op.add_column("orders", sa.Column("trail_bps", sa.Integer(), nullable=True))
    op.drop_constraint(op.f("ck_orders_known_trigger"), "orders", type_="check")
    op.create_check_constraint(
        op.f("ck_orders_known_trigger"),
        "orders",
        "trigger IS NULL OR trigger IN ('stop_loss', 'take_profit', 'trailing_stop')",
    )
    op.create_check_constraint(
        op.f("ck_orders_trail_of_trailing_stops"),
        "orders",
        "(trigger = 'trailing_stop') = (trail_offset IS NOT NULL OR trail_bps IS NOT NULL) "
        "AND (trail_offset IS NULL OR trail_bps IS NULL)",
    )


def downgrade() -> None:
    op.execute(
        "UPDATE orders SET status = 'cancelled', closed_at = now() "
        "WHERE status = 'untriggered' AND trigger = 'trailing_stop'"
    )
    op.drop_constraint(op.f("ck_orders_trail_of_trailing_stops"), "orders", type_="check")
    op.execute("UPDATE orders SET trigger = 'stop_loss' WHERE trigger = 'trailing_stop'")
    op.drop_constraint(op.f("ck_orders_known_trigger"), "orders", type_="check")
    op.create_check_constraint(
        op.f("ck_orders_known_trigger"),
        "orders",
        "trigger IS NULL OR trigger IN ('stop_loss', 'take_profit')",
    )
    op.drop_column("orders", "trail_bps")
    op.drop_column("orders", "trail_offset")
