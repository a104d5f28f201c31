"""Leases: which central instance runs the once-only jobs (rules and alerts, reports); and the
connection start that orders an agent's availability reports.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The DDL type of central.store.schema.UtcDateTime (values are converted to UTC in Python).
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", Time, nullable=False),
        sa.Column("expires_at", Time, nullable=False),
    )
    # batch mode: SQLite cannot ALTER a table's columns in place
    with op.batch_alter_table("agents") as t:
        t.add_column(sa.Column("availability_since", Time))


def downgrade() -> None:
    with op.batch_alter_table("agents") as t:
        t.drop_column("availability_since")
    op.drop_table("leases")
