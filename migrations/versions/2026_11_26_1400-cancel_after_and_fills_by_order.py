"""dead man's switch (cancel_after), fills by order

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cancel_after",
        sa.Column("api_key_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_cancel_after_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_cancel_after_user_id_users")
        ),
        sa.PrimaryKeyConstraint("api_key_id", name=op.f("pk_cancel_after")),
    )
    op.create_index("ix_cancel_after_deadline", "cancel_after", ["deadline"], unique=False)
    op.create_index("ix_fills_maker_order_id", "fills", ["maker_order_id"], unique=False)
    op.create_index("ix_fills_taker_order_id", "fills", ["taker_order_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_fills_taker_order_id", table_name="fills")
    op.drop_index("ix_fills_maker_order_id", table_name="fills")
    op.drop_index("ix_cancel_after_deadline", table_name="cancel_after")
    op.drop_table("cancel_after")
