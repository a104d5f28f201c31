"""Alembic migrations of central's database, run programmatically (no alembic.ini needed).

`migrate(engine)` upgrades a fresh or an existing database to the newest revision. New revisions
go in versions/ (see env.py).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlalchemy import text as sql_text

MIGRATIONS_DIR = Path(__file__).parent
_PG_MIGRATE_LOCK = 0x53494147  # "SIAG": one migration at a time when collectors start together


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations under {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> str | None:
    """Upgrade the database to revision (default the newest); a no-op when it is there already."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Released at commit; a second collector waits, then finds nothing left to do.
            conn.execute(sql_text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATE_LOCK})
        if MigrationContext.configure(conn).get_current_revision() is None and inspect(
            conn
        ).has_table("counts"):
            raise RuntimeError("the database has central's tables but no migration history "
                               "(made by metadata.create_all?): use a fresh database")  # fmt: skip
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        return MigrationContext.configure(conn).get_current_revision()
