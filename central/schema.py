"""Central's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Counts are keyed on (agent_id, seq): a duplicate delivery is a no-op, a missing seq is a gap.
Migrations (central/migrations) create and evolve these tables; this module is their single
description for queries.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; read back as aware UTC on every backend."""

    # SQLite has no time zone: SQLAlchemy would store an aware value's wall time and drop its
    # offset, so values are converted to UTC first and given tzinfo=UTC when read.
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


counts = Table(
    "counts",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("camera_id", String(64), nullable=False),
    Column("site", String(128), nullable=False),
    Column("kelurahan_code", String(13), nullable=False),
    Column("window_start", UtcDateTime(), nullable=False),
    Column("window_end", UtcDateTime(), nullable=False),
    Column("people_seen", Integer, nullable=False),
    Column("masked", Integer, nullable=False),
    Column("unmasked", Integer, nullable=False),
    Column("occupancy_mean", Float, nullable=False),
    Column("occupancy_max", Integer, nullable=False),
    Column("frames_processed", Integer, nullable=False),
    Column("frames_inferred", Integer, nullable=False),
    Column("model_name", String(128), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("model_sha256", String(64), nullable=False),
    Column("calibration_version", String(64)),
    # True when the registry maps this camera to another kelurahan than the message says.
    Column("kelurahan_mismatch", Boolean, nullable=False, default=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Index("ix_counts_window_end", "window_end"),
    Index("ix_counts_kelurahan_window", "kelurahan_code", "window_end"),
    Index("ix_counts_camera_window", "agent_id", "camera_id", "window_end"),
)

agents = Table(
    "agents",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("availability", String(16)),
    Column("availability_at", UtcDateTime()),
    Column("status_json", Text),
    Column("status_at", UtcDateTime()),
    Column("first_seen", UtcDateTime()),
    Column("revoked", Boolean, nullable=False, default=False),
)

kecamatan = Table(
    "kecamatan",
    metadata,
    Column("code", String(8), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("kota_code", String(5), nullable=False),
)

kelurahan = Table(
    "kelurahan",
    metadata,
    Column("code", String(13), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("kecamatan_code", String(8), nullable=False, index=True),
    Column("centroid_lng", Float),
    Column("centroid_lat", Float),
    Column("boundary_geojson", Text),
)

cameras = Table(
    "cameras",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("camera_id", String(64), primary_key=True),
    Column("kelurahan_code", String(13), nullable=False, index=True),
    Column("name", String(128)),
    Column("lat", Float),
    Column("lng", Float),
    Column("expected", Boolean, nullable=False, default=True),
)

rejects = Table(
    "rejects",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("received_at", UtcDateTime(), nullable=False, index=True),
    Column("topic", String(512), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("payload_excerpt", Text),
)

# Rejects by reason since the database was created: `rejects` keeps only the newest rows.
reject_totals = Table(
    "reject_totals",
    metadata,
    Column("reason", String(64), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("last_at", UtcDateTime(), nullable=False),
)
