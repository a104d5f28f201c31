"""The holding buffer in front of the outbox: order, bound, retry and recovery, logged once.

With a scripted failing writer (fast and exact), then with real outboxes: one locked by another
connection's BEGIN EXCLUSIVE, one on a small filesystem filled up. (A read-only remount under a
live outbox cannot be staged: the kernel refuses it while a file is open for writing, EBUSY;
every outbox failure reaches the buffer as the same OutboxError.)
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from agent.holding import Held, Holding
from agent.outbox import Outbox, OutboxError
from tests.agent.small_disk import fill, small_disk
from tests.mqtt_broker import wait_until


class FlakyOutbox:
    """Gives seqs in order like the outbox; raises `error` while it is set."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.rows: list[tuple[int, str]] = []
        self.lock = threading.Lock()

    def window(self, name: str) -> Held:
        def write() -> int:
            with self.lock:
                if self.error is not None:
                    raise OutboxError(self.error)
                self.rows.append((len(self.rows) + 1, name))
                return len(self.rows)

        return Held(write, name)


def collect(written: list[tuple[str, int, bool]]):
    return lambda item, seq, late: written.append((item.what, seq, late))


def test_windows_wait_in_order_and_get_contiguous_seqs_on_recovery(caplog):
    box, written = FlakyOutbox(), list[tuple[str, int, bool]]()
    h = Holding(max_held=100, retry_s=0.05, on_written=collect(written))
    h.put(box.window("w1"))
    box.error = "outbox.sqlite3: cannot write to the outbox database: database or disk is full."
    with caplog.at_level(logging.ERROR, logger="agent.holding"):
        for i in range(2, 6):
            h.put(box.window(f"w{i}"))
        assert wait_until(lambda: h.stats().errors >= 5, 5), "the retry thread does not retry"
    st = h.stats()
    assert (st.held, st.dropped) == (4, 0) and st.error == box.error and st.error_since
    said = [r for r in caplog.records if "disk is full" in r.getMessage()]
    assert len(said) == 1, "a repeated error must be logged once, not at every retry"
    box.error = None  # space returns: no new window, the retry thread alone recovers
    assert wait_until(lambda: h.stats().held == 0, 5)
    assert box.rows == [(i, f"w{i}") for i in range(1, 6)]
    assert [seq for _, seq, _ in written] == [1, 2, 3, 4, 5]
    assert [late for *_, late in written] == [False, True, True, True, True]
    assert h.stats().error is None and h.close() == 0


def test_the_bound_drops_the_oldest_and_counts_it():
    box = FlakyOutbox()
    box.error = "read-only"
    h = Holding(max_held=3, retry_s=60)
    for i in range(1, 8):
        h.put(box.window(f"w{i}"))
    assert (h.stats().held, h.stats().dropped) == (3, 4)
    box.error = None
    assert h.drain() == 3
    assert [name for _, name in box.rows] == ["w5", "w6", "w7"]
    assert h.stats().dropped == 4 and h.close() == 0


def test_a_window_that_cannot_be_built_is_dropped_and_does_not_block_the_rest(caplog):
    box = FlakyOutbox()

    def broken() -> int:
        raise ValueError("masked + unmasked cannot exceed people_seen")

    h = Holding(retry_s=60)
    with caplog.at_level(logging.ERROR, logger="agent.holding"):
        h.put(box.window("w1"))
        h.put(Held(broken, "bad"))
        h.put(box.window("w2"))
    assert [name for _, name in box.rows] == ["w1", "w2"]
    assert h.stats().dropped == 1 and "bad cannot be queued" in caplog.text


def test_close_counts_what_memory_still_holds_as_lost():
    box = FlakyOutbox()
    box.error = "locked"
    h = Holding(retry_s=0.05)
    for i in range(3):
        h.put(box.window(f"w{i}"))
    t0 = time.monotonic()
    assert h.close(timeout_s=1) == 3 and time.monotonic() - t0 < 1.5
    assert h.stats().dropped == 3 and h.stats().held == 0


def real_window(box: Outbox, name: str) -> Held:
    return Held(lambda: box.enqueue("siaga/v1/t/cam/counts", lambda seq: name.encode()), name)


def test_outbox_locked_by_another_connection(tmp_path: Path):
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path, max_messages=100)
    # The outbox waits 5 s for a lock (busy_timeout); 0.2 s keeps this test short.
    box._conn.execute("PRAGMA busy_timeout = 200")
    h = Holding(retry_s=0.1)
    h.put(real_window(box, "w1"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        h.put(real_window(box, "w2"))
        h.put(real_window(box, "w3"))
        st = h.stats()
        assert st.held == 2 and st.error is not None and "locked" in st.error
        assert wait_until(lambda: h.stats().errors >= 3, 5), "no retry while locked"
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert wait_until(lambda: h.stats().held == 0, 5), "no recovery once the lock is gone"
    assert [(r.seq, r.payload) for r in box.pending(10)] == [(1, b"w1"), (2, b"w2"), (3, b"w3")]
    h.close()
    box.close()


def test_outbox_on_a_full_disk_then_freed(tmp_path: Path):
    with small_disk(tmp_path / "disk", size_kib=512) as disk:
        box = Outbox(disk / "outbox.sqlite3", max_messages=1000)
        h = Holding(retry_s=0.1)
        h.put(real_window(box, "w1"))
        filler = fill(disk)
        for i in range(2, 6):
            h.put(real_window(box, f"w{i}"))
        st = h.stats()
        assert st.held == 4 and st.error is not None and "disk is full" in st.error
        assert box.last_seq() == 1, "a failed write must not use up a seq"
        filler.unlink()
        t0 = time.monotonic()
        assert wait_until(lambda: h.stats().held == 0, 5)
        took = time.monotonic() - t0
        assert [r.seq for r in box.pending(10)] == [1, 2, 3, 4, 5]
        assert took < 1.0, f"recovered {took:.2f} s after space returned (retry every 0.1 s)"
        h.close()
        box.close()
