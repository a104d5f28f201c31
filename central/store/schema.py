"""Central's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Counts are keyed on (agent_id, epoch, seq): a duplicate delivery is a no-op, a missing seq is a
gap, and an outbox wiped on the box starts a new epoch rather than colliding with the old one.
Migrations (central/store/migrations) create and evolve these tables; this module is their single
description for queries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
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


def _window_columns() -> list[Column[Any]]:
    """The columns of one count window, in `counts` order (the quarantine table repeats them)."""
    return [
        Column("agent_id", String(64), nullable=False),
        Column("seq", BigInteger, nullable=False, autoincrement=False),
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
        # The agent's outbox epoch (wire.CountsMessage.epoch; '' for agents without): a wiped
        # outbox starts a new series from seq 1 instead of being taken for duplicates (0007).
        Column("epoch", String(32), nullable=False, server_default=""),
        # The agent's verdict on the camera when the window closed (wire.CountsMessage.suitable):
        # False = the view cannot judge masks, left out of compliance (central/judged.py);
        # NULL = not assessed, or an agent from before mask judgement (0009).
        Column("suitable", Boolean),
    ]


counts = Table(
    "counts",
    metadata,
    *_window_columns(),
    PrimaryKeyConstraint("agent_id", "epoch", "seq", name="counts_pkey"),
    Index("ix_counts_window_end", "window_end"),
    Index("ix_counts_kelurahan_window", "kelurahan_code", "window_end"),
    Index("ix_counts_camera_window", "agent_id", "camera_id", "window_end"),
)

# Windows that passed the wire contract but cannot be true (central/ingest/plausibility.py): kept
# with
# the reason, out of `counts`, so that no figure query can take them in (central/store/quarantine.py
# says why a table of its own). Keyed like counts: a redelivery is stored once (0008).
quarantine = Table(
    "quarantine",
    metadata,
    *_window_columns(),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    PrimaryKeyConstraint("agent_id", "epoch", "seq", name="quarantine_pkey"),
    Index("ix_quarantine_received_at", "received_at"),
)

agents = Table(
    "agents",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("availability", String(16)),
    Column("availability_at", UtcDateTime()),  # received
    Column("availability_since", UtcDateTime()),  # orders reports: see store._availability
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


# ---- civic data modules (central/civic): one table each, keyed for idempotent re-imports ----


def _civic(name: str, *columns: Column[Any]) -> Table:
    """A civic table: its columns, then the schema version and who last wrote it, when."""
    return Table(
        name,
        metadata,
        *columns,
        Column("schema_version", Integer, nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
        Column("updated_by", String(128), nullable=False),
    )


civic_cases = _civic(
    "civic_cases",
    Column("kelurahan_code", String(13), primary_key=True),
    Column("date", Date, primary_key=True),
    Column("residency", String(16), primary_key=True),  # resident / non_resident
    Column("confirmed", Integer, nullable=False),
    Column("active", Integer, nullable=False),
    Column("recovered", Integer, nullable=False),
    Column("deaths", Integer, nullable=False),
    Column("suspect", Integer, nullable=False),
    Column("probable", Integer, nullable=False),
)

civic_beds = _civic(
    "civic_beds",
    Column("hospital_id", String(64), primary_key=True),
    Column("date", Date, primary_key=True),
    Column("room_type", String(64), primary_key=True),
    Column("hospital_name", String(128)),
    Column("kelurahan_code", String(13), nullable=False),
    Column("beds", Integer, nullable=False),
    Column("used", Integer, nullable=False),
    Column("used_suspect", Integer, nullable=False),
    Column("used_confirmed", Integer, nullable=False),
    Column("queue", Integer, nullable=False),
    Column("prepare", Integer, nullable=False),
    Column("free", Integer, nullable=False),
)

civic_pharmacy_stock = _civic(
    "civic_pharmacy_stock",
    Column("pharmacy_id", String(64), primary_key=True),
    Column("item", String(32), primary_key=True),  # mask / hand_sanitizer
    Column("pharmacy_name", String(128), nullable=False),
    Column("kelurahan_code", String(13), nullable=False, index=True),
    Column("lat", Float, nullable=False),
    Column("lng", Float, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit", String(64), nullable=False),
    Column("as_of", UtcDateTime(), nullable=False),
)

civic_population = _civic(
    "civic_population",
    Column("kelurahan_code", String(13), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("population", Integer, nullable=False),
)

civic_entries = _civic(
    "civic_entries",
    Column("date", Date, primary_key=True),
    Column("entry_point", String(64), primary_key=True),
    Column("people", Integer, nullable=False),
)

civic_staples = _civic(
    "civic_staples",
    Column("market_id", String(64), primary_key=True),
    Column("date", Date, primary_key=True),
    Column("commodity", String(64), primary_key=True),
    Column("market_name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # market / distributor
    Column("kelurahan_code", String(13), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("price_idr", BigInteger, nullable=False),
    Column("stock", Float, nullable=False),
)

civic_aid = _civic(
    "civic_aid",
    Column("date", Date, primary_key=True),
    Column("direction", String(16), primary_key=True),  # received / distributed
    Column("source", String(32), primary_key=True),
    Column("area_code", String(13), primary_key=True),  # a kelurahan, or the kota for the city
    Column("item", String(64), primary_key=True),
    Column("unit", String(64), nullable=False),
    Column("quantity", Float, nullable=False),
)

# One row per civic write that changed something: who, when, which record, old → new (JSON).
civic_audit = Table(
    "civic_audit",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UtcDateTime(), nullable=False),
    Column("who", String(128), nullable=False),
    Column("module", String(32), nullable=False),
    Column("action", String(8), nullable=False),  # insert / update
    Column("record_key", Text, nullable=False),
    Column("old_json", Text),
    Column("new_json", Text, nullable=False),
    Index("ix_civic_audit_module_at", "module", "at"),
)

# Institutions that write civic records over HTTP: one token each, stored only as its SHA-256;
# `modules` and `owner_ids` (JSON lists) bound what it may write (its hospital, pharmacy, market).
civic_institutions = Table(
    "civic_institutions",
    metadata,
    Column("institution_id", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("modules", Text, nullable=False),
    Column("owner_ids", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

# Decision-rule alerts (central/rules): at most one open row per (rule, area_code); re-firing
# updates it, a rule that no longer holds resolves it.
alerts = Table(
    "alerts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("rule", String(64), nullable=False),
    Column("area_code", String(80), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # open / resolved
    Column("reason", Text, nullable=False),
    Column("figures", Text, nullable=False),  # JSON
    Column("first_seen", UtcDateTime(), nullable=False),
    Column("last_seen", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime()),
    # Store-and-forward: the event (open/update/resolve) not yet acknowledged by the broker
    # (NULL: nothing to send) and when the last one was.
    Column("pending_event", String(8)),
    Column("published_at", UtcDateTime()),
    Index("ix_alerts_state_rule_area", "state", "rule", "area_code"),
)

# Leases (central/store/lease.py): the instance that holds a name runs that once-only job until
# expires_at, renewing it well before; another takes it over when it lapses.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("acquired_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)
