"""the balancer weight named for what it is (`Swap::SwapBalancer` holds the quote (TAO)
weight); non-dynamic subnets (root) priced 1.0 as the chain prices them

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26 17:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_TAO = 10**9  # rao per whole alpha at price 1.0


def upgrade() -> None:
    op.alter_column("subnets", "alpha_weight", new_column_name="quote_weight")
    op.execute(f"UPDATE subnets SET price_rao = {ONE_TAO} WHERE mechanism <> 1")
    op.execute(
        f"UPDATE subnet_history h SET price_rao = {ONE_TAO} FROM subnets s "
        "WHERE s.id = h.subnet_id AND s.mechanism <> 1"
    )


def downgrade() -> None:
    # The pool prices the earlier code stored for root are not restored (they were wrong).
    op.alter_column("subnets", "quote_weight", new_column_name="alpha_weight")
