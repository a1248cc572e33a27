"""outbox: the sequencer's committed events, relayed to NATS JetStream

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 13:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    op.create_table(
        "outbox_relay_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("relayed_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_outbox_relay_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_relay_state")),
    )


def downgrade() -> None:
    op.drop_table("outbox_relay_state")
    op.drop_table("outbox_events")
