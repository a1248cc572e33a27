"""fee tiers by 30-day volume, users' daily volume

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 13:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fee_tiers",
        sa.Column("market_id", sa.BigInteger(), nullable=True),
        sa.Column("min_volume", sa.BigInteger(), nullable=False),
        sa.Column("maker_fee_bps", sa.Integer(), nullable=False),
        sa.Column("taker_fee_bps", sa.Integer(), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("min_volume > 0", name=op.f("ck_fee_tiers_min_volume_positive")),
        sa.CheckConstraint(
            "maker_fee_bps BETWEEN 0 AND 1000", name=op.f("ck_fee_tiers_maker_fee_range")
        ),
        sa.CheckConstraint(
            "taker_fee_bps BETWEEN 0 AND 1000", name=op.f("ck_fee_tiers_taker_fee_range")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_fee_tiers_market_id_markets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_tiers")),
    )
    op.create_index(
        "uq_fee_tiers_market_volume",
        "fee_tiers",
        ["market_id", "min_volume"],
        unique=True,
        postgresql_where=sa.text("market_id IS NOT NULL"),
    )
    op.create_index(
        "uq_fee_tiers_global_volume",
        "fee_tiers",
        ["min_volume"],
        unique=True,
        postgresql_where=sa.text("market_id IS NULL"),
    )
    op.create_table(
        "user_volume_daily",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("quote", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quote >= 0", name=op.f("ck_user_volume_daily_quote_non_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_volume_daily_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_user_volume_daily")),
    )
    # The volume so far, from the fills (both sides, each for its user).
    op.execute(
        "INSERT INTO user_volume_daily (user_id, day, quote) "
        "SELECT user_id, day, sum(quote) FROM ("
        "  SELECT maker_user_id AS user_id, (created_at AT TIME ZONE 'UTC')::date AS day, quote "
        "  FROM fills UNION ALL "
        "  SELECT taker_user_id, (created_at AT TIME ZONE 'UTC')::date, quote FROM fills"
        ") f GROUP BY user_id, day"
    )


def downgrade() -> None:
    op.drop_table("user_volume_daily")
    op.drop_index("uq_fee_tiers_global_volume", table_name="fee_tiers")
    op.drop_index("uq_fee_tiers_market_volume", table_name="fee_tiers")
    op.drop_table("fee_tiers")
