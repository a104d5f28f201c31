"""Initial tables: counts keyed on (agent_id, seq), agents, areas, cameras, rejects.

Revision ID: 0001
Revises:
Create Date: 2024-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The DDL type of central.store.schema.UtcDateTime (values are converted to UTC in Python).
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "counts",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
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
    )
    op.create_index("ix_counts_window_end", "counts", ["window_end"])
    op.create_index("ix_counts_kelurahan_window", "counts", ["kelurahan_code", "window_end"])
    op.create_index("ix_counts_camera_window", "counts", ["agent_id", "camera_id", "window_end"])
    op.create_table(
        "agents",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("availability", sa.String(16)),
        sa.Column("availability_at", Time),
        sa.Column("status_json", sa.Text),
        sa.Column("status_at", Time),
        sa.Column("first_seen", Time),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )
    op.create_table(
        "kecamatan",
        sa.Column("code", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kota_code", sa.String(5), nullable=False),
    )
    op.create_table(
        "kelurahan",
        sa.Column("code", sa.String(13), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kecamatan_code", sa.String(8), nullable=False),
        sa.Column("centroid_lng", sa.Float),
        sa.Column("centroid_lat", sa.Float),
        sa.Column("boundary_geojson", sa.Text),
    )
    op.create_index("ix_kelurahan_kecamatan_code", "kelurahan", ["kecamatan_code"])
    op.create_table(
        "cameras",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("camera_id", sa.String(64), primary_key=True),
        sa.Column("kelurahan_code", sa.String(13), nullable=False),
        sa.Column("name", sa.String(128)),
        sa.Column("lat", sa.Float),
        sa.Column("lng", sa.Float),
        sa.Column("expected", sa.Boolean, nullable=False),
    )
    op.create_index("ix_cameras_kelurahan_code", "cameras", ["kelurahan_code"])
    op.create_table(
        "rejects",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("received_at", Time, nullable=False),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("payload_excerpt", sa.Text),
    )
    op.create_index("ix_rejects_received_at", "rejects", ["received_at"])


def downgrade() -> None:
    for table in ("rejects", "cameras", "kelurahan", "kecamatan", "agents", "counts"):
        op.drop_table(table)
