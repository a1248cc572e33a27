"""proof of reserves: audits (the published document) and their liabilities trees

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 12:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "por_audits",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("leaf_count", sa.Integer(), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("leaf_count >= 1", name=op.f("ck_por_audits_leaf_count_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_por_audits")),
    )
    op.create_table(
        "por_nodes",
        sa.Column("audit_id", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.Column("sums", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("salt", sa.LargeBinary(), nullable=True),
        sa.Column("breakdown", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "level >= 0 AND position >= 0", name=op.f("ck_por_nodes_non_negative_place")
        ),
        sa.CheckConstraint(
            "(level = 0) = (user_id IS NOT NULL AND salt IS NOT NULL)",
            name=op.f("ck_por_nodes_leaves_have_users"),
        ),
        sa.CheckConstraint("octet_length(hash) = 32", name=op.f("ck_por_nodes_hash_length")),
        sa.ForeignKeyConstraint(
            ["audit_id"],
            ["por_audits.id"],
            name=op.f("fk_por_nodes_audit_id_por_audits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_por_nodes_user_id_users")),
        sa.PrimaryKeyConstraint("audit_id", "level", "position", name=op.f("pk_por_nodes")),
    )
    op.create_index(
        "uq_por_nodes_audit_user",
        "por_nodes",
        ["audit_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_por_nodes_audit_user",
        table_name="por_nodes",
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.drop_table("por_nodes")
    op.drop_table("por_audits")
