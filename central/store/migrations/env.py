"""Alembic environment: migrates the connection handed over by `central.store.migrations.migrate`.

Also usable from the alembic command line with `-x url=...` (for writing new revisions with
--autogenerate against a scratch database).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from central.store import schema

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=schema.metadata,
        # SQLite cannot ALTER most things: batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run() -> None:
    """Upgrade (or downgrade) the given connection, or the -x url= database."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit(
            "no database: run through central.store.migrations.migrate or pass -x url=..."
        )
    engine = create_engine(url)
    with engine.begin() as conn:
        _configure(conn)
        context.run_migrations()
    engine.dispose()


run()
