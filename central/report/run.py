"""Build and write reports from the configuration: one day, or every day due (catch-up)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from central.config import CentralConfig
from central.daily import due_reports, make_each
from central.opendata import run as opendata
from central.report.build import build_report
from central.report.writers import write_report
from central.store.retention import cutoff, purge_counts

log = logging.getLogger(__name__)


def make_report(
    engine: Engine, cfg: CentralConfig, day: date, out_dir: Path | None = None,
    now: datetime | None = None,
) -> dict[str, Path]:  # fmt: skip
    """Build day's report with cfg's settings and write its files; returns their paths."""
    r = cfg.report
    report = build_report(
        engine, day, ZoneInfo(r.timezone), hour=r.hour, minute=r.minute,
        late_after_h=r.late_after_h, min_people_for_ratio=cfg.summaries.min_people_for_ratio,
        include_unsuitable=cfg.summaries.include_unsuitable_cameras, now=now,
    )  # fmt: skip
    return write_report(report, out_dir or r.output_dir)


def run_due(engine: Engine, cfg: CentralConfig, now: datetime | None = None) -> list[date]:
    """Write every due report (oldest first); a failing day is logged and the rest go on."""
    now = now or datetime.now(UTC)
    r = cfg.report
    days = due_reports(r.output_dir, now, ZoneInfo(r.timezone), r.hour, r.minute)
    return make_each(days, lambda day: make_report(engine, cfg, day, now=now), "daily report",
                     r.output_dir)  # fmt: skip


class ReportScheduler:
    """Writes due reports, then due open data, in a thread: at start (catch-up), then daily.

    It looks every check_s seconds (a directory listing; a report is built only when due), and
    waits retry_s after a failure (CKAN publishing failures included). It writes nothing to a
    folder whose parent is missing (systemd's StateDirectory makes /var/lib/siaga-central; a
    development run has none).
    """

    def __init__(self, engine: Engine, cfg: CentralConfig, *, check_s: float = 60.0,
                 retry_s: float = 600.0,
                 may_run: Callable[[], bool] = lambda: True) -> None:  # fmt: skip
        self.engine = engine
        self.may_run = may_run  # the jobs lease: only its holder writes and publishes
        self.cfg = cfg
        self.check_s = check_s
        self.retry_s = retry_s
        self.written: list[date] = []  # reports
        self.opendata_written: list[date] = []
        self.published: list[date] = []  # open data days upserted into CKAN
        self.purged = 0  # count windows deleted by the retention
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reports", daemon=True)
        self._warned_for: set[str] = set()

    def run_once(self, now: datetime | None = None) -> bool:
        """Write what is due now (reports, then open data), then apply the retention of raw
        count windows; False when something failed."""
        now = now or datetime.now(UTC)
        ok = self._reports(now)
        if self.cfg.opendata.enabled:
            ok = self._opendata(now) and ok
        days = self.cfg.storage.retention_days
        if days is not None:
            self.purged += purge_counts(self.engine, cutoff(now, days),
                                        should_stop=self._stop.is_set)  # fmt: skip
        return ok

    def _usable(self, folder: Path, what: str) -> bool:
        if folder.parent.is_dir():
            return True
        if what not in self._warned_for:
            log.warning("%s off: %s does not exist", what, folder.parent)
            self._warned_for.add(what)
        return False

    def _reports(self, now: datetime) -> bool:
        r = self.cfg.report
        if not self._usable(r.output_dir, "daily reports"):
            return True
        due = due_reports(r.output_dir, now, ZoneInfo(r.timezone), r.hour, r.minute)
        if not due:
            return True
        done = run_due(self.engine, self.cfg, now)
        self.written.extend(done)
        return len(done) == len(due)

    def _opendata(self, now: datetime) -> bool:
        o = self.cfg.opendata
        if not self._usable(o.output_dir, "open data"):
            return True
        tz, hour, minute = opendata.schedule(self.cfg)
        due = due_reports(o.output_dir, now, tz, hour, minute, pattern=opendata.DAY_MARKER)
        done = opendata.run_due(self.engine, self.cfg, now) if due else []
        self.opendata_written.extend(done)
        ok = len(done) == len(due)
        if o.ckan.enabled and opendata.ckan_due(o.output_dir, now):
            published = opendata.publish_due(self.cfg, now)
            if published is None:
                return False
            self.published.extend(published)
        return ok

    def _loop(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            if not self.may_run():
                wait = min(self.check_s, 5.0)  # another instance does it; look again soon
                continue
            try:
                ok = self.run_once()
            except Exception:  # never let the thread die
                log.exception("daily report check failed")
                ok = False
            wait = self.check_s if ok else self.retry_s

    def start(self) -> None:
        """Start the thread (its first check runs at once)."""
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the thread; a report being written is finished in the background."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout_s)
