"""the stake manager: staking operations are executed on chain (a chain transaction carries
one), their outcome recorded; differences between allocations and the chain are watched;
rewards split by the users' part of a position; reward periods close once both the indexer
and the custody scanner have processed their block

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-26 20:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPS, TXS = "staking_operations", "chain_transactions"
OPS_STATUS, TXS_PURPOSE = (
    "ck_staking_operations_known_status",
    "ck_chain_transactions_known_purpose",
)
OLD_STATUS = "status IN ('planned', 'executed', 'superseded')"
NEW_STATUS = "status IN ('planned', 'sending', 'executed', 'failed', 'expired', 'superseded')"
OLD_PURPOSE = "purpose IN ('withdrawal','sweep','topup','restake')"
NEW_PURPOSE = "purpose IN ('withdrawal','sweep','topup','stake_move')"


def upgrade() -> None:
    op.drop_constraint(op.f(OPS_STATUS), OPS, type_="check")
    op.create_check_constraint(op.f(OPS_STATUS), OPS, NEW_STATUS)
    op.add_column(
        "staking_operations",
        sa.Column("moved", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column("staking_operations", sa.Column("error", sa.String(length=200), nullable=True))
    op.execute("UPDATE chain_transactions SET purpose = 'stake_move' WHERE purpose = 'restake'")
    op.drop_constraint(op.f(TXS_PURPOSE), TXS, type_="check")
    op.create_check_constraint(op.f(TXS_PURPOSE), TXS, NEW_PURPOSE)
    op.add_column(
        "chain_transactions",
        sa.Column(
            "operation_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "staking_operations.id",
                name=op.f("fk_chain_transactions_operation_id_staking_operations"),
            ),
            nullable=True,
        ),
    )
    op.create_index(
        op.f("ix_chain_transactions_operation_id"), "chain_transactions", ["operation_id"]
    )
    op.add_column(
        "reward_distributions",
        sa.Column("position_weight", sa.Numeric(), server_default="0", nullable=False),
    )
    op.add_column(
        "reward_distributions",
        sa.Column("retained", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.drop_constraint(op.f("ck_reward_distributions_exact"), "reward_distributions", type_="check")
    op.create_check_constraint(
        op.f("ck_reward_distributions_exact"),
        "reward_distributions",
        "users_total + commission + rounding + retained = GREATEST(growth, 0)",
    )
    op.create_table(
        "staking_reward_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_staking_reward_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staking_reward_state")),
    )
    op.create_table(
        "staking_drift",
        sa.Column("subnet_id", sa.BigInteger(), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("since_block", sa.BigInteger(), nullable=False),
        sa.Column("difference", sa.BigInteger(), nullable=False),
        sa.Column("checked_block", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["subnet_id"],
            ["subnets.id"],
            name=op.f("fk_staking_drift_subnet_id_subnets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subnet_id", "hotkey", name=op.f("pk_staking_drift")),
    )


def downgrade() -> None:
    op.drop_table("staking_drift")
    op.drop_table("staking_reward_state")
    op.drop_constraint(op.f("ck_reward_distributions_exact"), "reward_distributions", type_="check")
    op.execute("UPDATE reward_distributions SET commission = commission + retained")
    op.create_check_constraint(
        op.f("ck_reward_distributions_exact"),
        "reward_distributions",
        "users_total + commission + rounding = GREATEST(growth, 0)",
    )
    op.drop_column("reward_distributions", "retained")
    op.drop_column("reward_distributions", "position_weight")
    op.drop_index(op.f("ix_chain_transactions_operation_id"), "chain_transactions")
    op.drop_column("chain_transactions", "operation_id")
    op.drop_constraint(op.f(TXS_PURPOSE), TXS, type_="check")
    op.execute("UPDATE chain_transactions SET purpose = 'restake' WHERE purpose = 'stake_move'")
    op.create_check_constraint(op.f(TXS_PURPOSE), TXS, OLD_PURPOSE)
    op.drop_column("staking_operations", "error")
    op.drop_column("staking_operations", "moved")
    op.drop_constraint(op.f(OPS_STATUS), OPS, type_="check")
    op.execute(
        "UPDATE staking_operations SET status = 'superseded' "
        "WHERE status NOT IN ('planned', 'executed', 'superseded')"
    )
    op.create_check_constraint(op.f(OPS_STATUS), OPS, OLD_STATUS)
