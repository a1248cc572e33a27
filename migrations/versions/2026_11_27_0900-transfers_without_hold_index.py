"""ledger transfers without an index on `hold_id`: it served the foreign key to
`ledger_holds` (checked once per statement since 0021, and holds are never deleted), and
no query looks transfers up by hold (`ledger check` reads them all). An order's 3-5
transfers were one index insert each, in an index that grows with history.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-27 09:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_ledger_transfers_hold_id", table_name="ledger_transfers")


def downgrade() -> None:
    op.create_index(
        "ix_ledger_transfers_hold_id",
        "ledger_transfers",
        ["hold_id"],
        unique=False,
        postgresql_where=sa.text("hold_id IS NOT NULL"),
    )
