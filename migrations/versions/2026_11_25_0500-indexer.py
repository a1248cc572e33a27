"""indexer

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25 03:23:53.742837+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "indexer_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(length=128), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block_hash", sa.String(length=66), nullable=False),
        sa.Column("head_block", sa.BigInteger(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_indexer_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexer_state")),
    )
    op.create_table(
        "subnets",
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("identity", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("owner_coldkey", sa.String(length=64), nullable=False),
        sa.Column("owner_hotkey", sa.String(length=64), nullable=False),
        sa.Column("mechanism", sa.SmallInteger(), nullable=False),
        sa.Column("tempo", sa.Integer(), nullable=False),
        sa.Column("tao_in", sa.BigInteger(), nullable=False),
        sa.Column("alpha_in", sa.BigInteger(), nullable=False),
        sa.Column("alpha_out", sa.BigInteger(), nullable=False),
        sa.Column("price_rao", sa.BigInteger(), nullable=False),
        sa.Column("moving_price_bits", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column("volume", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column("tao_in_emission", sa.BigInteger(), nullable=False),
        sa.Column("alpha_in_emission", sa.BigInteger(), nullable=False),
        sa.Column("alpha_out_emission", sa.BigInteger(), nullable=False),
        sa.Column("fee_rate", sa.Integer(), nullable=False),
        sa.Column("alpha_weight", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("retired_at_block", sa.BigInteger(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subnets")),
        sa.UniqueConstraint("netuid", "registered_at", name=op.f("uq_subnets_netuid")),
    )
    op.create_index(op.f("ix_subnets_netuid"), "subnets", ["netuid"], unique=False)
    op.create_table(
        "custody_positions",
        sa.Column("subnet_id", sa.BigInteger(), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("coldkey", sa.String(length=64), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("stake", sa.BigInteger(), nullable=False),
        sa.Column("shares", sa.Numeric(), nullable=False),
        sa.Column("total_shares", sa.Numeric(), nullable=False),
        sa.Column("total_alpha", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subnet_id"],
            ["subnets.id"],
            name=op.f("fk_custody_positions_subnet_id_subnets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "subnet_id", "hotkey", "coldkey", "block_number", name=op.f("pk_custody_positions")
        ),
    )
    op.create_table(
        "subnet_history",
        sa.Column("subnet_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tao_in", sa.BigInteger(), nullable=False),
        sa.Column("alpha_in", sa.BigInteger(), nullable=False),
        sa.Column("alpha_out", sa.BigInteger(), nullable=False),
        sa.Column("price_rao", sa.BigInteger(), nullable=False),
        sa.Column("moving_price_bits", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column("volume", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column("tao_in_emission", sa.BigInteger(), nullable=False),
        sa.Column("alpha_in_emission", sa.BigInteger(), nullable=False),
        sa.Column("alpha_out_emission", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subnet_id"],
            ["subnets.id"],
            name=op.f("fk_subnet_history_subnet_id_subnets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subnet_id", "block_number", name=op.f("pk_subnet_history")),
    )
    op.create_table(
        "validators",
        sa.Column("subnet_id", sa.BigInteger(), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("validator_permit", sa.Boolean(), nullable=False),
        sa.Column("take", sa.Integer(), nullable=False),
        sa.Column("total_alpha", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subnet_id"],
            ["subnets.id"],
            name=op.f("fk_validators_subnet_id_subnets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subnet_id", "hotkey", name=op.f("pk_validators")),
    )


def downgrade() -> None:
    op.drop_table("validators")
    op.drop_table("subnet_history")
    op.drop_table("custody_positions")
    op.drop_index(op.f("ix_subnets_netuid"), table_name="subnets")
    op.drop_table("subnets")
    op.drop_table("indexer_state")
