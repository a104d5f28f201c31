"""Alert publish state: the event waiting to be published, and when the last one was.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a table's columns in place
    with op.batch_alter_table("alerts") as t:
        t.add_column(sa.Column("pending_event", sa.String(8)))
        t.add_column(sa.Column("published_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as t:
        t.drop_column("published_at")
        t.drop_column("pending_event")
