"""Storage: engines (SQLite, PostgreSQL), the schema and its Alembic migrations, row conversion,
the collector's writes and seq queries, quarantine, retention and the jobs lease."""
