"""fills by market and time

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 04:55:23.192284+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_fills_market_id_created_at", "fills", ["market_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_fills_market_id_created_at", table_name="fills")
