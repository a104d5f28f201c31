"""Decision-rule alerts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The DDL type of central.store.schema.UtcDateTime (values are converted to UTC in Python).
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("area_code", sa.String(80), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("figures", sa.Text, nullable=False),
        sa.Column("first_seen", Time, nullable=False),
        sa.Column("last_seen", Time, nullable=False),
        sa.Column("resolved_at", Time),
    )  # fmt: skip
    op.create_index("ix_alerts_state_rule_area", "alerts", ["state", "rule", "area_code"])


def downgrade() -> None:
    op.drop_index("ix_alerts_state_rule_area", table_name="alerts")
    op.drop_table("alerts")
