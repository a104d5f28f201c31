"""Mask judgement: each count window keeps the agent's verdict on its camera (`suitable`:
true, false = this view cannot judge masks, NULL = not assessed or an older agent), so that
figures can leave unsuitable cameras out of compliance (central/judged.py). Nullable, no
default: rows from before read as not assessed, which counts as suitable.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("counts", "quarantine")


def upgrade() -> None:
    # ADD COLUMN of a nullable column without default: in place and instant on both databases
    # (no table rewrite, however large counts is).
    for name in TABLES:
        op.add_column(name, sa.Column("suitable", sa.Boolean))


def downgrade() -> None:
    for name in TABLES:
        if op.get_bind().dialect.name == "postgresql":
            op.drop_column(name, "suitable")
        else:  # SQLite: batch mode (DROP COLUMN is refused on some tables and older versions)
            with op.batch_alter_table(name) as t:
                t.drop_column("suitable")
