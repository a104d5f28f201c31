"""Revoked agents as ingest sees them: the fleet's `revoked.txt`, reloaded when it changes.

`current()` is cheap enough to call per batch: it looks at the file's mtime at most once per
`check_every_s`, and re-reads it only when the mtime or size changed. A missing or unreadable
file keeps the last good list (and says so once), so a broken file never lets a revoked agent
back in.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

from siaga.wire import ID_PATTERN

log = logging.getLogger(__name__)
_ID_RE = re.compile(ID_PATTERN)


def parse_revoked(text: str) -> frozenset[str]:
    """Agent ids, one a line; blank lines and `#` comments ignored; malformed lines skipped."""
    ids = set()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if _ID_RE.fullmatch(line):
            ids.add(line)
        else:
            log.warning("revoked agents file, line %d: not an agent id: %.80r", n, line)
    return frozenset(ids)


class RevokedAgents:
    """The revoked agent ids from a file (None: nobody is revoked)."""

    def __init__(self, path: Path | None, *, check_every_s: float = 1.0) -> None:
        self.path, self.check_every_s = path, check_every_s
        self._ids: frozenset[str] = frozenset()
        self._stamp: tuple[int, int] | None = None
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._complained = False
        if path is not None:
            self._reload(time.monotonic())

    def current(self) -> frozenset[str]:
        """The ids now in force (re-read when the file changed)."""
        if self.path is None:
            return self._ids
        now = time.monotonic()
        if now >= self._next_check and self._lock.acquire(blocking=False):
            try:
                self._reload(now)
            finally:
                self._lock.release()
        return self._ids

    def _reload(self, now: float) -> None:
        assert self.path is not None
        self._next_check = now + self.check_every_s
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp == self._stamp:
                return
            ids = parse_revoked(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            if not self._complained:
                log.error("revoked agents file %s unreadable (%s); keeping the last list of %d",
                          self.path, exc, len(self._ids))  # fmt: skip
                self._complained = True
            return
        self._complained = False
        added, removed = ids - self._ids, self._ids - ids
        self._ids, self._stamp = ids, stamp
        if added or removed:
            log.info("revoked agents: %d (added: %s; removed: %s)", len(ids),
                     ", ".join(sorted(added)[:10]) or "-",
                     ", ".join(sorted(removed)[:10]) or "-")  # fmt: skip
