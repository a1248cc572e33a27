"""nonce window per API key: accepted nonces within it, nonces as times

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 12:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("nonce_window_ms", sa.Integer(), server_default="10000", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_api_keys_nonce_window_range"),
        "api_keys",
        "nonce_window_ms BETWEEN 0 AND 86400000",
    )
    # The highest nonce becomes a time in ns (app.auth.service.nonce_time), so that old
    # nonces in milliseconds or microseconds stay refused.
    op.execute(
        "UPDATE api_keys SET last_nonce = CASE "
        "WHEN last_nonce < 100000000000 OR last_nonce >= 100000000000000000 THEN last_nonce "
        "WHEN last_nonce < 100000000000000 "
        "THEN LEAST(CAST(last_nonce AS numeric) * 1000000, 9223372036854775807) "
        "ELSE LEAST(CAST(last_nonce AS numeric) * 1000, 9223372036854775807) END"
    )
    op.create_table(
        "api_key_nonces",
        sa.Column("api_key_id", sa.BigInteger(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_key_nonces_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_key_id", "nonce", name=op.f("pk_api_key_nonces")),
    )


def downgrade() -> None:
    op.drop_table("api_key_nonces")
    op.drop_constraint(op.f("ck_api_keys_nonce_window_range"), "api_keys", type_="check")
    op.drop_column("api_keys", "nonce_window_ms")
