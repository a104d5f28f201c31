"""The durable outbox: seq never reused, cap with counted drops, order, thread safety, bad files."""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.outbox import Outbox, OutboxError, Stamp
from siaga.wire import EPOCH_PATTERN

TOPIC = "siaga/v1/box1/cam1/counts"


def payload(seq: int) -> bytes:
    return f'{{"seq":{seq}}}'.encode()


def fill(ob: Outbox, n: int) -> list[int]:
    return [ob.enqueue(TOPIC, payload) for _ in range(n)]


def test_seq_starts_at_one_and_payload_carries_it(tmp_path: Path) -> None:
    with Outbox(tmp_path / "a" / "b" / "outbox.sqlite3") as ob:  # parent folders created
        assert ob.last_seq() is None
        assert fill(ob, 3) == [1, 2, 3]
        assert [r.payload for r in ob.pending(10)] == [payload(1), payload(2), payload(3)]
        assert ob.last_seq() == 3 and ob.depth() == 3


def test_seq_persists_across_reopen_and_is_never_reused_after_ack(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as ob:
        fill(ob, 5)
        assert ob.ack_many([1, 2, 3, 4, 5]) == 5
        assert ob.depth() == 0
    with Outbox(path) as ob:
        assert ob.last_seq() == 5
        assert ob.enqueue(TOPIC, payload) == 6


def test_seq_is_never_reused_after_drops(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path, max_messages=10) as ob:
        fill(ob, 15)
        assert ob.dropped() == 5 and ob.depth() == 10
    with Outbox(path, max_messages=10) as ob:
        assert (ob.last_seq(), ob.dropped(), ob.depth()) == (15, 5, 10)
        assert ob.enqueue(TOPIC, payload) == 16


def test_cap_drops_oldest_counts_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Outbox(tmp_path / "o.sqlite3", max_messages=10) as ob:
        fill(ob, 10)
        assert ob.dropped() == 0 and not caplog.records
        with caplog.at_level(logging.WARNING, logger="agent.outbox"):
            fill(ob, 2)
        assert [r.seq for r in ob.pending(100)] == list(range(3, 13))
        assert ob.dropped() == 2
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 2
        assert "dropped the 1 oldest" in warnings[0] and "seq 1..1" in warnings[0]
        assert "seq 2..2" in warnings[1] and "2 dropped in total" in warnings[1]


def test_smaller_cap_on_reopen_drops_the_whole_excess_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "o.sqlite3"
    with Outbox(path, max_messages=50) as ob:
        fill(ob, 30)
    with Outbox(path, max_messages=10) as ob, caplog.at_level(logging.WARNING):
        ob.enqueue(TOPIC, payload)
        assert ob.depth() == 10 and ob.dropped() == 21
        assert "seq 1..21" in caplog.text


@pytest.mark.parametrize(
    ("after", "limit", "expected"),
    [(None, 100, [2, 4, 5, 6]), (None, 2, [2, 4]), (4, 100, [5, 6]), (6, 10, []), (3, 1, [4])],
)
def test_pending_in_seq_order(
    tmp_path: Path, after: int | None, limit: int, expected: list[int]
) -> None:
    with Outbox(tmp_path / "o.sqlite3") as ob:
        fill(ob, 6)
        ob.ack(1)
        ob.ack(3)
        assert [r.seq for r in ob.pending(limit, after_seq=after)] == expected
        assert all(r.topic == TOPIC for r in ob.pending(limit, after_seq=after))


def test_ack_of_missing_row_is_harmless(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as ob:
        fill(ob, 2)
        assert ob.ack(1) is True
        assert ob.ack(1) is False
        assert ob.ack_many([1, 2, 99]) == 1
        assert ob.depth() == 0


def test_failing_build_leaves_nothing_behind(tmp_path: Path) -> None:
    def broken(seq: int) -> bytes:
        raise ValueError("bad window")

    with Outbox(tmp_path / "o.sqlite3") as ob:
        fill(ob, 1)
        with pytest.raises(ValueError, match="bad window"):
            ob.enqueue(TOPIC, broken)
        assert ob.depth() == 1 and ob.last_seq() == 1
        assert ob.enqueue(TOPIC, payload) == 2


def test_wal_and_full_sync(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    with Outbox(path) as ob:
        fill(ob, 1)
        # synchronous is per connection: look at the outbox's own one.
        assert ob._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_two_threads_enqueue_while_one_acks(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as ob:
        seqs: list[int] = []
        lock = threading.Lock()
        done = threading.Event()

        def producer() -> None:
            for _ in range(150):
                s = ob.enqueue(TOPIC, payload)
                with lock:
                    seqs.append(s)

        def acker() -> None:
            while not done.is_set():
                ob.ack_many(r.seq for r in ob.pending(20))

        threads = [threading.Thread(target=producer) for _ in range(2)]
        ack_thread = threading.Thread(target=acker)
        for t in [*threads, ack_thread]:
            t.start()
        for t in threads:
            t.join(timeout=30)
        done.set()
        ack_thread.join(timeout=30)
        assert sorted(seqs) == list(range(1, 301))
        remaining = ob.pending(1000)
        assert ob.depth() == len(remaining)
        assert all(r.payload == payload(r.seq) for r in remaining)


def test_corrupt_file_gives_a_clear_error_and_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    garbage = b"this is not a database, but it might be someone's data" * 100
    path.write_bytes(garbage)
    with pytest.raises(OutboxError, match=str(path)) as info:
        Outbox(path)
    assert "move it aside" in str(info.value)
    assert path.read_bytes() == garbage


def test_unopenable_path_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutboxError, match="file"):
        Outbox(blocker / "outbox.sqlite3")  # its parent is a file


def test_closed_outbox_refuses_use(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite3")
    ob.close()
    with pytest.raises(sqlite3.ProgrammingError):
        ob.pending(1)


def recorder(stamps: list[Stamp]) -> Callable[[Stamp], bytes]:
    def build(st: Stamp) -> bytes:
        stamps.append(st)
        return b"x"

    return build


SCHEMA_1 = """
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE outbox (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL,
                     enqueued_at REAL NOT NULL);
INSERT INTO counters (name, value) VALUES ('last_seq', 41), ('dropped', 3);
INSERT INTO outbox VALUES (40, 't', x'3430', 1.0), (41, 't', x'3431', 2.0);
PRAGMA user_version = 1;
"""


def test_an_outbox_of_schema_1_is_upgraded_with_its_rows_and_counter(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1)
    conn.close()
    with Outbox(path) as ob:
        epoch = ob.epoch
        assert re.fullmatch(EPOCH_PATTERN, epoch)
        assert [r.seq for r in ob.pending(10)] == [40, 41] and ob.dropped() == 3
        stamps: list[Stamp] = []
        ob.enqueue_stamped(TOPIC, recorder(stamps))
        assert stamps == [Stamp(42, epoch, 40)]  # the seq goes on; 40 is the oldest held
    with Outbox(path) as ob:
        assert ob.epoch == epoch  # drawn once, kept


def test_each_new_outbox_draws_its_own_epoch_and_confirm_applies_to_it_only(
    tmp_path: Path,
) -> None:
    with Outbox(tmp_path / "a.sqlite3") as a, Outbox(tmp_path / "b.sqlite3") as b:
        assert a.epoch != b.epoch
        fill(a, 5)
        assert a.confirm(b.epoch, 5) == 0 and a.depth() == 5
        assert a.confirm(a.epoch, 3) == 3 and a.first_seq() == 4 and a.confirmed_seq() == 3
        assert a.confirm(a.epoch, 2) == 0  # never backwards
        stamps: list[Stamp] = []
        a.enqueue_stamped(TOPIC, recorder(stamps))
        assert stamps == [Stamp(6, a.epoch, 4)]
