"""Quarantine: count windows that passed the wire contract but cannot be true (an impossible
crowd, a window in the future or past the retention horizon, an unknown kelurahan) are kept here
with their reason instead of in `counts`, so that no figure takes them in
(central/store/quarantine.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The DDL type of central.store.schema.UtcDateTime (values are converted to UTC in Python).
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("site", sa.String(128), nullable=False),
        sa.Column("kelurahan_code", sa.String(13), nullable=False),
        sa.Column("window_start", Time, nullable=False),
        sa.Column("window_end", Time, nullable=False),
        sa.Column("people_seen", sa.Integer, nullable=False),
        sa.Column("masked", sa.Integer, nullable=False),
        sa.Column("unmasked", sa.Integer, nullable=False),
        sa.Column("occupancy_mean", sa.Float, nullable=False),
        sa.Column("occupancy_max", sa.Integer, nullable=False),
        sa.Column("frames_processed", sa.Integer, nullable=False),
        sa.Column("frames_inferred", sa.Integer, nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("model_sha256", sa.String(64), nullable=False),
        sa.Column("calibration_version", sa.String(64)),
        sa.Column("kelurahan_mismatch", sa.Boolean, nullable=False),
        sa.Column("received_at", Time, nullable=False),
        sa.Column("epoch", sa.String(32), nullable=False, server_default=""),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "epoch", "seq", name="quarantine_pkey"),
    )
    op.create_index("ix_quarantine_received_at", "quarantine", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_received_at", table_name="quarantine")
    op.drop_table("quarantine")
