"""Windows waiting in memory while the outbox cannot be written (disk full, read-only, locked).

Why it exists: a camera loop must outlive its outbox. Before, one `OutboxError` ended the
worker thread for good, and the windows it had closed were lost without a seq, so central never
saw a gap. Now a window that cannot be written stays here, in order, up to `max_held`; the
write is retried every `retry_s` by a small thread (also when no new window closes), and the
outbox gives each held window its seq only when it finally takes it, so the seq has no hole.

What it costs: held windows live in memory only, so they are lost if the process dies (or when
the agent stops while the outbox is still unwritable); a window pushed out by the bound is lost
too. Both are counted in `dropped`, which the status message adds to the outbox's own drops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.outbox import OutboxError

log = logging.getLogger(__name__)

# Should become `[outbox] max_held` in agent/config.py (its owner is changing that file): a day
# of 60 s windows for 7 cameras; one held window is a closure of a few hundred bytes.
MAX_HELD = 10_000
RETRY_S = 1.0  # a failed write on a full or read-only disk costs well under a millisecond


@dataclass(frozen=True, slots=True)
class Held:
    """One closed window not yet in the outbox: `write` stores it and returns its seq."""

    write: Callable[[], int]
    what: str  # for the logs, e.g. "camera cam1: window 10:00–10:01 people 3 (masked 2)"
    since_mono: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class HoldingStats:
    """What the status message and the metrics report."""

    held: int  # windows in memory now
    dropped: int  # windows lost from memory (bound, unwritable at shutdown, or unbuildable)
    errors: int  # failed outbox writes
    error: str | None  # the outbox's last error while it is failing, else None
    error_since: float | None  # wall-clock time of the first failure of this outage


OnWritten = Callable[[Held, int, bool], None]  # (window, seq, late: it waited for a recovery)


class Holding:
    """A bounded FIFO in front of the outbox; `put` never raises and never blocks on a failing
    outbox (the retry thread alone touches it until it is writable again)."""

    def __init__(
        self, *, max_held: int = MAX_HELD, retry_s: float = RETRY_S,
        on_written: OnWritten | None = None,
    ) -> None:  # fmt: skip
        if max_held < 1:
            raise ValueError("max_held must be at least 1")
        self.max_held = max_held
        self.retry_s = retry_s
        self.on_written = on_written
        self._lock = threading.Lock()  # guards the figures and the queue
        self._drain = threading.Lock()  # one writer at a time, so seqs follow the queue order
        self._queue: deque[Held] = deque()
        self._inflight: Held | None = None
        self._dropped = self._errors = 0
        self._error: str | None = None
        self._error_since: float | None = None
        self._failing_mono = 0.0
        self._said: set[str] = set()  # errors already logged in this outage
        self._overflowed = 0  # windows pushed out in this outage
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def put(self, item: Held) -> None:
        """Queue one window and write what can be written now (unless the outbox is failing)."""
        with self._lock:
            if len(self._queue) >= self.max_held:
                self._overflow()
            self._queue.append(item)
            failing = self._error is not None
        if not failing:
            self.drain()

    def _overflow(self) -> None:
        # Drop the oldest, as the outbox's own cap does; never the one being written now.
        victim = 1 if self._queue[0] is self._inflight else 0
        lost = self._queue[victim]
        del self._queue[victim]
        self._dropped += 1
        self._overflowed += 1
        if self._overflowed == 1:
            log.error("outbox still failing and %d windows held in memory: dropping the "
                      "oldest (%s), and each further one (counted in status dropped)",
                      self.max_held, lost.what)  # fmt: skip

    def drain(self) -> int:
        """Write held windows in order until none is left or the outbox fails; how many."""
        written = 0
        while True:
            if not self._drain.acquire(blocking=False):
                return written  # another thread is writing: it takes ours too, in order
            try:
                written += self._drain_locked()
            finally:
                self._drain.release()
            with self._lock:
                # A window put while we let go of the lock would otherwise wait for a retry.
                if not self._queue or self._error is not None:
                    return written

    def _drain_locked(self) -> int:
        written = 0
        late = False  # once a write succeeds after a failure, the rest of this pass waited too
        while True:
            with self._lock:
                if not self._queue:
                    return written
                item = self._inflight = self._queue[0]
                recovering = self._error is not None
            try:
                seq = item.write()
            except OutboxError as exc:
                self._failed(str(exc))
                return written
            except Exception:
                # Not the outbox: this window cannot be built (a bug). It must not block the
                # ones behind it, so it is dropped, counted and logged with its traceback.
                log.exception("%s cannot be queued and is dropped", item.what)
                self._done(item, dropped=True)
                continue
            finally:
                with self._lock:
                    self._inflight = None
            if recovering:
                self._recovered()
                late = True
            self._done(item, dropped=False)
            written += 1
            if self.on_written is not None:
                try:
                    self.on_written(item, seq, late)
                except Exception:
                    log.exception("after queueing %s as seq %d", item.what, seq)

    def _done(self, item: Held, *, dropped: bool) -> None:
        with self._lock:
            if self._queue and self._queue[0] is item:
                self._queue.popleft()
            self._dropped += dropped

    def _failed(self, text: str) -> None:
        with self._lock:
            self._errors += 1
            first = self._error is None
            if first:
                self._error_since, self._failing_mono = time.time(), time.monotonic()
                self._said.clear()
            self._error = text
            new = text not in self._said
            self._said.add(text)
            held = len(self._queue)
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(target=self._retry_loop, name="outbox-retry",
                                                daemon=True)  # fmt: skip
                self._thread.start()
        if new:  # once per distinct error per outage, not once a second
            log.error("%s; %d window(s) wait in memory (at most %d) and the write is retried "
                      "every %g s", text, held, self.max_held, self.retry_s)  # fmt: skip

    def _recovered(self) -> None:
        with self._lock:
            took = time.monotonic() - self._failing_mono
            held, lost = len(self._queue), self._overflowed
            self._error = self._error_since = None
            self._overflowed = 0
        log.warning("outbox writable again after %.1f s: writing the %d window(s) held in "
                    "memory%s", took, held,
                    f" ({lost} dropped by the bound meanwhile)" if lost else "")  # fmt: skip

    def _retry_loop(self) -> None:
        """Retry while windows are held; ends once they are all written (a failure restarts it)."""
        while not self._closed.wait(self.retry_s):
            self.drain()
            with self._lock:
                if not self._queue and self._error is None:
                    self._thread = None
                    return
        with self._lock:
            self._thread = None

    def stats(self) -> HoldingStats:
        """A snapshot for status and metrics."""
        with self._lock:
            return HoldingStats(held=len(self._queue), dropped=self._dropped, errors=self._errors,
                                error=self._error, error_since=self._error_since)  # fmt: skip

    def close(self, timeout_s: float = 1.0) -> int:
        """At shutdown: stop retrying, write what a healthy outbox takes, count the rest as
        lost (memory does not outlive the process). Returns how many were lost."""
        self._closed.set()
        with self._lock:
            thread, failing = self._thread, self._error is not None
        if thread is not None:
            thread.join(timeout_s)
        # No last attempt on a failing outbox: a locked one would block past the stop budget.
        if not failing and self._drain.acquire(timeout=timeout_s):
            try:
                self._drain_locked()
            finally:
                self._drain.release()
        with self._lock:
            # One being written by a retry that outlived the join is the outbox's, not lost.
            inflight = self._inflight
            keep = [h for h in self._queue if h is inflight]
            lost = len(self._queue) - len(keep)
            self._queue = deque(keep)
            self._dropped += lost
            error = self._error
        if lost:
            log.error("%d window(s) held in memory are lost at shutdown: the outbox could not "
                      "take them (%s)", lost, error or "busy")  # fmt: skip
        return lost
