"""central.store on SQLite and PostgreSQL: idempotent inserts, exact gaps, migrations, zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import column, func, insert, inspect, select, table, text

from central.store import schema
from central.store.engine import make_engine, normalise_url
from central.store.migrations import current_revision, head_revision, migrate
from central.store.rows import Gap, Reject, SeqSummary
from central.store.writes import Store

WIB = timezone(timedelta(hours=7))
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=WIB)


def row(agent: str, seq: int, **over: Any) -> dict[str, Any]:
    """A counts row as the collector writes it."""
    base = {
        "agent_id": agent, "seq": seq, "camera_id": "cam1", "site": "pasar johar",
        "kelurahan_code": "33.74.01.1001", "window_start": T0 + timedelta(minutes=seq % 10**6),
        "window_end": T0 + timedelta(minutes=seq % 10**6 + 1), "people_seen": 10, "masked": 7,
        "unmasked": 3, "occupancy_mean": 2.5, "occupancy_max": 4, "frames_processed": 300,
        "frames_inferred": 120, "model_name": "m", "model_version": "1", "model_sha256": "a" * 64,
        "calibration_version": None, "kelurahan_mismatch": False,
        "received_at": datetime.now(UTC),
    }  # fmt: skip
    return {**base, **over}


def test_insert_is_idempotent_and_counts_new_rows(store: Store) -> None:
    assert store.insert_counts([row("a", 1), row("a", 2), row("a", 2), row("b", 1)]) == 3
    assert store.insert_counts([row("a", 1), row("a", 2)]) == 0
    assert store.insert_counts([row("a", 2, people_seen=99), row("a", 3)]) == 1
    assert store.insert_counts([]) == 0
    assert store.stored_keys() == {("a", 1), ("a", 2), ("a", 3), ("b", 1)}
    with store.engine.connect() as conn:
        kept = conn.execute(select(schema.counts.c.people_seen)
                            .where(schema.counts.c.seq == 2)).scalar_one()  # fmt: skip
    assert kept == 10  # the first delivery wins; a duplicate never overwrites
    assert [a.agent_id for a in store.agents()] == ["a", "b"]  # first seen from counts


# (seqs stored for one agent, the gaps expected) — between the lowest and highest seq only.
GAP_CASES: list[tuple[list[int], list[tuple[int, int]]]] = [
    ([], []),
    ([7], []),
    ([1, 2, 3, 4], []),
    ([1, 3], [(2, 2)]),
    ([0, 5], [(1, 4)]),
    ([5, 9, 10, 20], [(6, 8), (11, 19)]),
    ([2, 4, 6, 8], [(3, 3), (5, 5), (7, 7)]),
    ([100, 101, 103, 104, 200], [(102, 102), (105, 199)]),
    ([2**62, 2**62 + 3], [(2**62 + 1, 2**62 + 2)]),
]


def test_gaps_are_exact(store: Store) -> None:
    expected: list[Gap] = []
    for i, (seqs, gaps) in enumerate(GAP_CASES):
        agent = f"agent-{i:02d}"
        # Out of order and with duplicates, as deliveries come.
        store.insert_counts([row(agent, s) for s in reversed(seqs)] + [row(agent, s) for s in seqs])
        mine = [Gap(agent, lo, hi) for lo, hi in gaps]
        assert store.gaps(agent) == mine, (seqs, store.gaps(agent))
        expected += mine
    assert store.gaps() == expected
    summary = {s.agent_id: s for s in store.seq_summary()}
    for i, (seqs, gaps) in enumerate(GAP_CASES):
        agent = f"agent-{i:02d}"
        if seqs:
            missing = sum(hi - lo + 1 for lo, hi in gaps)
            assert summary[agent] == SeqSummary(agent, min(seqs), max(seqs), len(seqs), missing)
        else:
            assert agent not in summary
    assert store.seq_summary("agent-05") == [SeqSummary("agent-05", 5, 20, 4, 12)]


def test_migrations_fresh_existing_and_matching_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        assert migrate(engine, "0001") == "0001"  # a database made by an older release
        with engine.begin() as conn:
            # The table as 0001 made it (no epoch): a bare table clause, not schema.counts.
            old = row("old", 1)
            conn.execute(insert(table("counts", *map(column, old))), [old])
        assert "reject_totals" not in inspect(engine).get_table_names()
        assert migrate(engine) == head_revision()
        assert migrate(engine) == head_revision()  # already there: nothing to do
        assert Store(engine).stored_keys() == {("old", 1)}
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, schema.metadata)
        assert diff == [], f"central/store/schema.py and the migrations disagree: {diff}"
    finally:
        engine.dispose()


def test_timestamps_are_stored_utc_and_come_back_aware(store: Store) -> None:
    naive_utc = datetime(2024, 3, 1, 2, 30)  # naive is taken as UTC
    store.insert_counts([row("tz", 1, received_at=naive_utc)])
    with store.engine.connect() as conn:
        got = conn.execute(select(schema.counts.c.window_start, schema.counts.c.received_at)
                           ).one()  # fmt: skip
        # The instant is kept whatever the offset it was given in; a later query with an
        # aware bound in another zone compares instants.
        later = conn.execute(
            select(func.count()).where(
                schema.counts.c.window_start >= datetime(2024, 3, 1, 2, 1, tzinfo=UTC)
            )
        ).scalar()
    start, received = got
    assert start.tzinfo is not None and start.utcoffset() == timedelta(0)
    assert start == T0 + timedelta(minutes=1)
    assert start.hour == 2 and start.minute == 1  # 09:01 WIB is 02:01 UTC
    assert received == naive_utc.replace(tzinfo=UTC)
    assert later == 1
    store.set_availability("tz", "online", T0)
    (agent,) = store.agents()
    assert agent.availability_at == T0 and agent.availability_at.tzinfo is not None


def test_availability_and_status_newest_wins(store: Store) -> None:
    t = datetime(2024, 3, 1, tzinfo=UTC)
    store.set_availability("a", "online", t)
    store.set_availability("a", "offline", t - timedelta(seconds=1))  # older: ignored
    store.set_status("a", '{"n":2}', t + timedelta(seconds=5))
    store.set_status("a", '{"n":1}', t)  # older: ignored
    (a,) = store.agents()
    assert (a.availability, a.availability_at) == ("online", t)
    assert (a.status_json, a.status_at) == ('{"n":2}', t + timedelta(seconds=5))
    store.set_availability("a", "offline", t + timedelta(seconds=9))
    assert store.agents()[0].availability == "offline"
    assert store.agents()[0].first_seen == t  # from the first report


def test_rejects_are_bounded_and_totals_kept(db_url: str) -> None:
    store = Store.open(db_url, rejects_keep=5)
    try:
        t = datetime(2024, 3, 1, tzinfo=UTC)
        for i in range(4):
            store.record_rejects([
                Reject(t + timedelta(seconds=i), "siaga/v1/a/c/counts",
                       "not_json" if i % 2 else "oversized", f"detail {i}\x00",
                       f"payload\x00{i}")
                for _ in range(3)
            ])  # fmt: skip
        assert store.reject_totals() == {"not_json": 6, "oversized": 6}
        recent = store.recent_rejects()
        assert len(recent) == 5
        assert recent[0].detail == "detail 3\\x00" and recent[0].payload_excerpt == "payload\\x003"
        assert recent[0].received_at == t + timedelta(seconds=3)
    finally:
        store.close()


def test_sqlite_engine_settings(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/deep/dir/x.sqlite3")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() >= 1000
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////var/lib/x.sqlite3", "sqlite:////var/lib/x.sqlite3"),
    ],
)
def test_normalise_url(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


def test_migrate_refuses_tables_without_history(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/made-by-create-all.sqlite3")
    schema.metadata.create_all(engine)
    with pytest.raises(RuntimeError, match="no migration history"):
        migrate(engine)
    engine.dispose()
