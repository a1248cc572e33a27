"""staking: allocations, unbondings, reward distributions, settings, operations, flows

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 03:52:09.052000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reward_distributions",
        sa.Column("subnet_id", sa.BigInteger(), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("start_block", sa.BigInteger(), nullable=False),
        sa.Column("end_block", sa.BigInteger(), nullable=False),
        sa.Column("start_stake", sa.BigInteger(), nullable=False),
        sa.Column("end_stake", sa.BigInteger(), nullable=False),
        sa.Column("net_flow", sa.BigInteger(), nullable=False),
        sa.Column("growth", sa.BigInteger(), nullable=False),
        sa.Column("commission_bps", sa.Integer(), nullable=False),
        sa.Column("commission", sa.BigInteger(), nullable=False),
        sa.Column("users_total", sa.BigInteger(), nullable=False),
        sa.Column("rounding", sa.BigInteger(), nullable=False),
        sa.Column("total_weight", sa.Numeric(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('baseline', 'reward', 'unclaimed', 'loss')",
            name=op.f("ck_reward_distributions_known_kind"),
        ),
        sa.CheckConstraint(
            "users_total + commission + rounding = GREATEST(growth, 0)",
            name=op.f("ck_reward_distributions_exact"),
        ),
        sa.ForeignKeyConstraint(
            ["asset"], ["assets.code"], name=op.f("fk_reward_distributions_asset_assets")
        ),
        sa.ForeignKeyConstraint(
            ["subnet_id"], ["subnets.id"], name=op.f("fk_reward_distributions_subnet_id_subnets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_distributions")),
        sa.UniqueConstraint("subnet_id", "hotkey", "epoch", name="uq_reward_distributions_epoch"),
    )
    op.create_table(
        "staking_allocation_events",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("subnet_id", sa.BigInteger(), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.String(length=100), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('allocate', 'deallocate', 'reward', 'release')",
            name=op.f("ck_staking_allocation_events_known_kind"),
        ),
        sa.CheckConstraint("delta <> 0", name=op.f("ck_staking_allocation_events_delta_non_zero")),
        sa.ForeignKeyConstraint(
            ["subnet_id"],
            ["subnets.id"],
            name=op.f("fk_staking_allocation_events_subnet_id_subnets"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_staking_allocation_events_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staking_allocation_events")),
    )
    op.create_index(
        "ix_staking_allocation_events_period",
        "staking_allocation_events",
        ["subnet_id", "hotkey", "block_number"],
        unique=False,
    )
    op.create_index(
        "ix_staking_allocation_events_user",
        "staking_allocation_events",
        ["user_id", "id"],
        unique=False,
    )
    op.create_table(
        "staking_operations",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("subnet_id", sa.BigInteger(), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=16), server_default="move_stake", nullable=False),
        sa.Column("origin_hotkey", sa.String(length=64), nullable=False),
        sa.Column("destination_hotkey", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="planned", nullable=False),
        sa.Column("based_on_block", sa.BigInteger(), nullable=False),
        sa.Column("executed_block", sa.BigInteger(), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('planned', 'executed', 'superseded')",
            name=op.f("ck_staking_operations_known_status"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_staking_operations_amount_positive")),
        sa.ForeignKeyConstraint(
            ["subnet_id"], ["subnets.id"], name=op.f("fk_staking_operations_subnet_id_subnets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staking_operations")),
    )
    op.create_index("ix_staking_operations_plan", "staking_operations", ["plan_id"], unique=False)
    op.create_table(
        "staking_allocations",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("market_id", sa.BigInteger(), nullable=False),
        sa.Column("subnet_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
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
        sa.CheckConstraint("amount >= 0", name=op.f("ck_staking_allocations_amount_non_negative")),
        sa.ForeignKeyConstraint(
            ["asset"], ["assets.code"], name=op.f("fk_staking_allocations_asset_assets")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_staking_allocations_market_id_markets")
        ),
        sa.ForeignKeyConstraint(
            ["subnet_id"], ["subnets.id"], name=op.f("fk_staking_allocations_subnet_id_subnets")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_staking_allocations_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staking_allocations")),
        sa.UniqueConstraint("user_id", "subnet_id", "hotkey", name="uq_staking_allocations_owner"),
    )
    op.create_index(
        "ix_staking_allocations_subnet_hotkey",
        "staking_allocations",
        ["subnet_id", "hotkey"],
        unique=False,
    )
    op.create_table(
        "staking_chain_flows",
        sa.Column("subnet_id", sa.BigInteger(), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=128), nullable=False),
        sa.Column("operation_id", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_staking_chain_flows_amount_non_zero")),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["staking_operations.id"],
            name=op.f("fk_staking_chain_flows_operation_id_staking_operations"),
        ),
        sa.ForeignKeyConstraint(
            ["subnet_id"], ["subnets.id"], name=op.f("fk_staking_chain_flows_subnet_id_subnets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staking_chain_flows")),
    )
    op.create_index(
        "ix_staking_chain_flows_period",
        "staking_chain_flows",
        ["subnet_id", "hotkey", "block_number"],
        unique=False,
    )
    op.create_table(
        "staking_rewards",
        sa.Column("distribution_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("weight", sa.Numeric(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["distribution_id"],
            ["reward_distributions.id"],
            name=op.f("fk_staking_rewards_distribution_id_reward_distributions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_staking_rewards_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("distribution_id", "user_id", name=op.f("pk_staking_rewards")),
    )
    op.create_index(
        "ix_staking_rewards_user", "staking_rewards", ["user_id", "distribution_id"], unique=False
    )
    op.create_table(
        "staking_settings",
        sa.Column("market_id", sa.BigInteger(), nullable=False),
        sa.Column("commission_bps", sa.Integer(), nullable=False),
        sa.Column("unbonding_blocks", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "commission_bps BETWEEN 0 AND 10000", name=op.f("ck_staking_settings_commission_range")
        ),
        sa.CheckConstraint(
            "unbonding_blocks >= 0", name=op.f("ck_staking_settings_unbonding_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"],
            ["markets.id"],
            name=op.f("fk_staking_settings_market_id_markets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("market_id", name=op.f("pk_staking_settings")),
    )
    op.create_table(
        "staking_unbondings",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("market_id", sa.BigInteger(), nullable=False),
        sa.Column("subnet_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("requested_block", sa.BigInteger(), nullable=False),
        sa.Column("release_block", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'released')", name=op.f("ck_staking_unbondings_known_state")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_staking_unbondings_amount_positive")),
        sa.ForeignKeyConstraint(
            ["asset"], ["assets.code"], name=op.f("fk_staking_unbondings_asset_assets")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_staking_unbondings_market_id_markets")
        ),
        sa.ForeignKeyConstraint(
            ["subnet_id"], ["subnets.id"], name=op.f("fk_staking_unbondings_subnet_id_subnets")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_staking_unbondings_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staking_unbondings")),
    )
    op.create_index(
        "ix_staking_unbondings_pending",
        "staking_unbondings",
        ["release_block"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_staking_unbondings_pending",
        table_name="staking_unbondings",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_table("staking_unbondings")
    op.drop_table("staking_settings")
    op.drop_index("ix_staking_rewards_user", table_name="staking_rewards")
    op.drop_table("staking_rewards")
    op.drop_index("ix_staking_chain_flows_period", table_name="staking_chain_flows")
    op.drop_table("staking_chain_flows")
    op.drop_index("ix_staking_allocations_subnet_hotkey", table_name="staking_allocations")
    op.drop_table("staking_allocations")
    op.drop_index("ix_staking_operations_plan", table_name="staking_operations")
    op.drop_table("staking_operations")
    op.drop_index("ix_staking_allocation_events_user", table_name="staking_allocation_events")
    op.drop_index("ix_staking_allocation_events_period", table_name="staking_allocation_events")
    op.drop_table("staking_allocation_events")
    op.drop_table("reward_distributions")
