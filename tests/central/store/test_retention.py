"""Retention of raw count windows: what ended before the cut-off goes, in chunks (SQLite, PG)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from central.config import CentralConfig, OpendataSection, ReportSection, StorageSection
from central.report.run import ReportScheduler
from central.store.retention import cutoff, purge_counts
from central.store.writes import Store
from tests.central.store.test_store import row

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)


def ended(days_ago: float, minutes: int = 0) -> dict[str, datetime]:
    end = NOW - timedelta(days=days_ago) + timedelta(minutes=minutes)
    return {"window_start": end - timedelta(minutes=1), "window_end": end}


def test_purge_deletes_only_what_ended_before_the_cutoff(store: Store) -> None:
    old = [row("a", s, **ended(40, s)) for s in range(25)]  # 25 windows 40 days old
    edge = [row("a", 25, **ended(30)), row("b", 1, **ended(30, -1))]  # at / just before
    recent = [row("a", 26 + s, **ended(2, s)) for s in range(5)]
    assert store.insert_counts(old + edge + recent) == 32
    n = purge_counts(store.engine, cutoff(NOW, 30), chunk=10)  # three chunks and a bit
    assert n == 26
    assert store.stored_keys() == {("a", 25)} | {("a", 26 + s) for s in range(5)}
    assert purge_counts(store.engine, cutoff(NOW, 30)) == 0  # nothing left to do
    # The seqs of an agent are counted between what is still stored: no false gap.
    assert [g for g in store.gaps() if g.agent_id == "a"] == []


def test_a_stop_request_ends_the_purge_between_chunks(store: Store) -> None:
    store.insert_counts([row("a", s, **ended(40, s)) for s in range(30)])
    calls: list[int] = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2  # two chunks, then stop

    assert purge_counts(store.engine, cutoff(NOW, 30), chunk=10, should_stop=stop) == 20
    assert len(store.stored_keys()) == 10


def test_the_report_scheduler_applies_the_retention(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    store.insert_counts([row("a", 1, **ended(20)), row("a", 2, **ended(10))])
    cfg = CentralConfig(storage=StorageSection(url=db_url, retention_days=15),
                        report=ReportSection(output_dir=tmp_path / "none" / "reports"),
                        opendata=OpendataSection(enabled=False))  # fmt: skip
    sched = ReportScheduler(store.engine, cfg)
    assert sched.run_once(NOW)
    assert sched.purged == 1 and store.stored_keys() == {("a", 2)}
    kept = CentralConfig(storage=StorageSection(url=db_url),
                         report=ReportSection(output_dir=tmp_path / "none" / "reports"),
                         opendata=OpendataSection(enabled=False))  # fmt: skip
    assert ReportScheduler(store.engine, kept).run_once(NOW + timedelta(days=400))
    assert store.stored_keys() == {("a", 2)}  # no retention set: everything is kept


def test_retention_shorter_than_the_summaries_and_catch_up_is_refused() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 15"):
        StorageSection(retention_days=7)


def test_quarantined_windows_go_by_when_they_were_received(store: Store) -> None:
    from central.store.quarantine import Quarantined
    from central.store.rows import as_count_row

    def held(seq: int, received_days_ago: float) -> Quarantined:
        # A window claiming to be in 2099: only its receive time can age it out.
        r = as_count_row(row("q", seq, window_start=datetime(2099, 1, 1, tzinfo=UTC),
                             window_end=datetime(2099, 1, 1, 0, 1, tzinfo=UTC),
                             received_at=NOW - timedelta(days=received_days_ago)))  # fmt: skip
        return Quarantined(r, "future_window", "test")

    store.write_batch(quarantined=[held(1, 40), held(2, 40), held(3, 2)])
    assert purge_counts(store.engine, cutoff(NOW, 30)) == 2
    with store.engine.connect() as conn:
        from central.store.quarantine import delivered_seqs

        assert delivered_seqs(conn, "q", "", above=0, limit=10) == [3]
