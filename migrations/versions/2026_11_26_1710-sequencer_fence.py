"""sequencer fence: the active sequencer's fencing token

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26 13:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sequencer_fence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_sequencer_fence_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequencer_fence")),
    )


def downgrade() -> None:
    op.drop_table("sequencer_fence")
