"""The calendar and files of the daily jobs, shared by the report and the open data.

A day's cut-off, which days are due (the newest cut-off passed, and any missed since the last
one written: catch-up after downtime), making each due day without letting one failure stop the
rest, and atomic file writes. Both `central.report` and `central.opendata` import this module
and neither imports the other's building or writing code for it.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

MAX_CATCH_UP_DAYS = 7
_NAME = re.compile(r"^siaga-report-(\d{4}-\d{2}-\d{2})\.json$")

_log = logging.getLogger(__name__)


def report_cutoff(day: date, tz: ZoneInfo, hour: int = 12, minute: int = 0) -> datetime:
    """The report's cut-off: day at hour:minute local time (aware)."""
    return datetime.combine(day, dtime(hour, minute), tzinfo=tz)


def written_days(out_dir: Path, pattern: re.Pattern[str] = _NAME) -> set[date]:
    """Days whose report is in out_dir (its JSON file, written last, marks it complete).

    pattern matches a complete day's marker file name, the day as its first group.
    """
    if not out_dir.is_dir():
        return set()
    days: set[date] = set()
    for p in out_dir.iterdir():
        m = pattern.match(p.name)
        if m:
            try:
                days.add(date.fromisoformat(m.group(1)))
            except ValueError:
                continue
    return days


def due_reports(
    out_dir: Path, now: datetime, tz: ZoneInfo, hour: int = 12, minute: int = 0,
    *, max_days: int = MAX_CATCH_UP_DAYS, pattern: re.Pattern[str] = _NAME,
) -> list[date]:  # fmt: skip
    """Days (oldest first) whose cut-off has passed and whose report is missing.

    The newest due day is today once now is at or past today's cut-off, else yesterday. Days
    after the newest report already written are due, at most max_days of them (a longer outage
    is not replayed in full); with no report written at all only the newest day is due.
    """
    local = now.astimezone(tz)
    newest = local.date()
    if local < report_cutoff(newest, tz, hour, minute):
        newest -= timedelta(days=1)
    written = {d for d in written_days(out_dir, pattern) if d <= newest}
    if not written:
        return [newest]
    last = max(written)
    first = max(last + timedelta(days=1), newest - timedelta(days=max_days - 1))
    out: list[date] = []
    d = first
    while d <= newest:
        if d not in written:
            out.append(d)
        d += timedelta(days=1)
    return out


def make_each(days: Iterable[date], make: Callable[[date], object], what: str,
              where: Path) -> list[date]:  # fmt: skip
    """make(day) for each day, oldest first; a failing day is logged and the rest go on (a report
    or an open-data file must never take the collector down). Returns the days made."""
    done: list[date] = []
    for day in days:
        try:
            make(day)
        except Exception:
            _log.exception("%s %s failed", what, day)
            continue
        _log.info("%s %s written to %s", what, day, where)
        done.append(day)
    return done


def atomic_write(path: Path, text: str) -> None:
    """Write text to path through a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
