"""subnet data for traders: registration cost, subtoken and transfer switches, chain buys, the
TAO weight; every registered hotkey with its childkey take, last epoch's dividends and its
nominators; history looked up by time

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-26 19:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "subnets", sa.Column("excess_tao", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "subnets",
        sa.Column("registration_cost", sa.BigInteger(), server_default="0", nullable=False),
    )
    for name in ("subtoken_enabled", "transfer_enabled"):
        op.add_column(
            "subnets", sa.Column(name, sa.Boolean(), server_default="true", nullable=False)
        )
    op.add_column(
        "indexer_state",
        sa.Column(
            "tao_weight", sa.Numeric(precision=20, scale=0), server_default="0", nullable=False
        ),
    )
    op.add_column(
        "validators", sa.Column("childkey_take", sa.Integer(), server_default="0", nullable=False)
    )
    for name in ("alpha_dividends", "total_alpha_last_epoch"):
        op.add_column(
            "validators", sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)
        )
    op.add_column("validators", sa.Column("nominators", sa.Integer(), nullable=True))
    op.add_column("validators", sa.Column("nominators_block", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_subnet_history_subnet_id_block_time",
        "subnet_history",
        ["subnet_id", "block_time"],
    )


def downgrade() -> None:
    op.drop_index("ix_subnet_history_subnet_id_block_time", table_name="subnet_history")
    for name in (
        "nominators_block",
        "nominators",
        "total_alpha_last_epoch",
        "alpha_dividends",
        "childkey_take",
    ):
        op.drop_column("validators", name)
    op.drop_column("indexer_state", "tao_weight")
    for name in ("transfer_enabled", "subtoken_enabled", "registration_cost", "excess_tao"):
        op.drop_column("subnets", name)
