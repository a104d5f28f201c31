"""Fixtures shared by the central tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from central.store.engine import make_engine
from central.store.migrations import migrate
from central.store.writes import Store


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated, empty database (SQLite and PostgreSQL, by `db_url`)."""
    e = make_engine(db_url)
    migrate(e)
    yield e
    e.dispose()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A Store on a fresh, migrated database (SQLite and PostgreSQL, by `db_url`)."""
    s = Store.open(db_url)
    yield s
    s.close()
