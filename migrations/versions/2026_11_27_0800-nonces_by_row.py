"""a key's nonces are its rows alone: `api_keys.last_nonce` goes (the highest nonce is the
key's highest row in `api_key_nonces`, which pruning never removes), and so does the foreign
key of `api_key_nonces` (a check and a share lock on the key per nonce). A signed order's
nonce is recorded in its group's transaction, by one statement that reads the keys it
names and inserts nonces only for those; keys are never deleted (they are revoked).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-27 08:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A key's highest nonce so far stays refused, and the window stays anchored to it.
    op.execute(
        "INSERT INTO api_key_nonces (api_key_id, nonce) "
        "SELECT id, last_nonce FROM api_keys WHERE last_nonce > 0 ON CONFLICT DO NOTHING"
    )
    op.drop_constraint(
        op.f("fk_api_key_nonces_api_key_id_api_keys"), "api_key_nonces", type_="foreignkey"
    )
    op.drop_constraint(op.f("ck_api_keys_nonce_non_negative"), "api_keys", type_="check")
    op.drop_column("api_keys", "last_nonce")


def downgrade() -> None:
    op.add_column(
        "api_keys", sa.Column("last_nonce", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.execute(
        "UPDATE api_keys k SET last_nonce = n.top FROM (SELECT api_key_id, max(nonce) AS top "
        "FROM api_key_nonces GROUP BY api_key_id) n WHERE n.api_key_id = k.id"
    )
    op.create_check_constraint(
        op.f("ck_api_keys_nonce_non_negative"), "api_keys", "last_nonce >= 0"
    )
    op.execute(
        "DELETE FROM api_key_nonces n "
        "WHERE NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id = n.api_key_id)"
    )
    op.create_foreign_key(
        op.f("fk_api_key_nonces_api_key_id_api_keys"),
        "api_key_nonces",
        "api_keys",
        ["api_key_id"],
        ["id"],
        ondelete="CASCADE",
    )
