"""epochs as the chain schedules them: LastEpochBlock, PendingEpochAt and SubnetEpochIndex on
subnets, the epoch index and last epoch block in the history (rewards and APR keyed by them)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26 18:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for name in ("last_epoch_block", "pending_epoch_at", "epoch_index"):
        op.add_column(
            "subnets", sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)
        )
    for name in ("epoch_index", "last_epoch_block"):
        op.add_column(
            "subnet_history", sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)
        )
    # Rows indexed before: the schedule they were indexed under (every `tempo + 1` blocks,
    # offset by netuid), so reward periods already closed keep their epoch numbers and a
    # restart never pays an epoch twice. New rows carry the chain's own values.
    op.execute(
        "UPDATE subnet_history h SET "
        "epoch_index = (h.block_number + s.netuid) / (s.tempo + 1), "
        "last_epoch_block = h.block_number - (h.block_number + s.netuid) % (s.tempo + 1) "
        "FROM subnets s WHERE s.id = h.subnet_id AND s.netuid <> 0 AND s.tempo > 0"
    )
    op.execute(
        "UPDATE subnets SET "
        "epoch_index = (last_block + netuid) / (tempo + 1), "
        "last_epoch_block = last_block - (last_block + netuid) % (tempo + 1) "
        "WHERE netuid <> 0 AND tempo > 0"
    )


def downgrade() -> None:
    for name in ("epoch_index", "last_epoch_block"):
        op.drop_column("subnet_history", name)
    for name in ("last_epoch_block", "pending_epoch_at", "epoch_index"):
        op.drop_column("subnets", name)
