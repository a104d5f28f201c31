"""Civic data modules: cases, beds, pharmacy stock, population, entries, staples, aid; audit.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The DDL type of central.store.schema.UtcDateTime (values are converted to UTC in Python).
Time = sa.DateTime(timezone=True)

TABLES = (
    "civic_cases", "civic_beds", "civic_pharmacy_stock", "civic_population", "civic_entries",
    "civic_staples", "civic_aid", "civic_audit", "civic_institutions",
)  # fmt: skip


def _bookkeeping() -> list[sa.Column[Any]]:
    return [
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    ]


def _key(name: str, type_: sa.types.TypeEngine[Any]) -> sa.Column[Any]:
    return sa.Column(name, type_, primary_key=True)


def _int(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer, nullable=False)


def upgrade() -> None:
    Kel, Id, Slug = sa.String(13), sa.String(64), sa.String(64)
    op.create_table(
        "civic_cases",
        _key("kelurahan_code", Kel), _key("date", sa.Date()), _key("residency", sa.String(16)),
        *map(_int, ("confirmed", "active", "recovered", "deaths", "suspect", "probable")),
        *_bookkeeping(),
    )  # fmt: skip
    op.create_table(
        "civic_beds",
        _key("hospital_id", Id), _key("date", sa.Date()), _key("room_type", Slug),
        sa.Column("hospital_name", sa.String(128)),
        sa.Column("kelurahan_code", Kel, nullable=False),
        *map(_int, ("beds", "used", "used_suspect", "used_confirmed", "queue", "prepare", "free")),
        *_bookkeeping(),
    )  # fmt: skip
    op.create_table(
        "civic_pharmacy_stock",
        _key("pharmacy_id", Id), _key("item", sa.String(32)),
        sa.Column("pharmacy_name", sa.String(128), nullable=False),
        sa.Column("kelurahan_code", Kel, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lng", sa.Float, nullable=False),
        _int("quantity"),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("as_of", Time, nullable=False),
        *_bookkeeping(),
    )  # fmt: skip
    op.create_index(
        "ix_civic_pharmacy_stock_kelurahan_code", "civic_pharmacy_stock", ["kelurahan_code"]
    )
    op.create_table(
        "civic_population",
        _key("kelurahan_code", Kel), _key("year", sa.Integer()), _int("population"),
        *_bookkeeping(),
    )  # fmt: skip
    op.create_table(
        "civic_entries",
        _key("date", sa.Date()), _key("entry_point", Id), _int("people"), *_bookkeeping(),
    )  # fmt: skip
    op.create_table(
        "civic_staples",
        _key("market_id", Id), _key("date", sa.Date()), _key("commodity", Slug),
        sa.Column("market_name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("kelurahan_code", Kel, nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("price_idr", sa.BigInteger, nullable=False),
        sa.Column("stock", sa.Float, nullable=False),
        *_bookkeeping(),
    )  # fmt: skip
    op.create_table(
        "civic_aid",
        _key("date", sa.Date()), _key("direction", sa.String(16)), _key("source", sa.String(32)),
        _key("area_code", Kel), _key("item", Slug),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Float, nullable=False),
        *_bookkeeping(),
    )  # fmt: skip
    op.create_table(
        "civic_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("at", Time, nullable=False),
        sa.Column("who", sa.String(128), nullable=False),
        sa.Column("module", sa.String(32), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("record_key", sa.Text, nullable=False),
        sa.Column("old_json", sa.Text),
        sa.Column("new_json", sa.Text, nullable=False),
    )  # fmt: skip
    op.create_index("ix_civic_audit_module_at", "civic_audit", ["module", "at"])
    op.create_table(
        "civic_institutions",
        sa.Column("institution_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("modules", sa.Text, nullable=False),
        sa.Column("owner_ids", sa.Text, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
