"""Open data from the configuration: one day, or every day due (catch-up), then CKAN.

A day's files are due like the daily report (its cut-off passed, its files missing; a day
missed while the service was down is written on start, at most MAX_CATCH_UP_DAYS back). A day
is published to CKAN once its files exist; success leaves a `.ckan-YYYY-MM-DD` marker in the
output folder, so a day CKAN missed (portal down, bad token) is published on a later pass.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from central.config import CentralConfig
from central.daily import MAX_CATCH_UP_DAYS, atomic_write, due_reports, make_each, written_days
from central.opendata.build import build_opendata
from central.opendata.ckan import CkanClient, client_for, publish
from central.opendata.files import DAY_MARKER, day_paths, read_day, write_opendata

log = logging.getLogger(__name__)
CKAN_MARKER = re.compile(r"^\.ckan-(\d{4}-\d{2}-\d{2})$")


def schedule(cfg: CentralConfig) -> tuple[ZoneInfo, int, int]:
    """(time zone, hour, minute) of the daily open data: its own, else the report's."""
    o, r = cfg.opendata, cfg.report
    return (ZoneInfo(r.timezone), r.hour if o.hour is None else o.hour,
            r.minute if o.minute is None else o.minute)  # fmt: skip


def make_opendata(
    engine: Engine, cfg: CentralConfig, day: date, out_dir: Path | None = None,
    now: datetime | None = None,
) -> dict[str, Path]:  # fmt: skip
    """Build day's tables with cfg's settings and write its files; returns their paths."""
    tz, hour, minute = schedule(cfg)
    s = cfg.summaries
    data = build_opendata(
        engine, day, tz, hour=hour, minute=minute, min_people_for_ratio=s.min_people_for_ratio,
        now=now, include_unsuitable=s.include_unsuitable_cameras,
    )  # fmt: skip
    return write_opendata(data, out_dir or cfg.opendata.output_dir)


def publish_day(cfg: CentralConfig, day: date, out_dir: Path | None = None,
                client: CkanClient | None = None) -> int:  # fmt: skip
    """Upsert day's written kelurahan rows into CKAN and mark the day published."""
    out = out_dir or cfg.opendata.output_dir
    rows = read_day(day_paths(out, day)["kelurahan-daily.json"])
    n = publish(client or client_for(cfg.opendata.ckan), cfg.opendata.ckan, rows)
    atomic_write(out / f".ckan-{day.isoformat()}", datetime.now(UTC).isoformat() + "\n")
    return n


def ckan_due(out_dir: Path, now: datetime) -> list[date]:
    """Days with files but no CKAN marker, the last MAX_CATCH_UP_DAYS days, oldest first."""
    written = written_days(out_dir, DAY_MARKER)
    done = written_days(out_dir, CKAN_MARKER)
    oldest = now.date() - timedelta(days=MAX_CATCH_UP_DAYS)
    return sorted(d for d in written - done if d >= oldest)


def run_due(engine: Engine, cfg: CentralConfig, now: datetime | None = None) -> list[date]:
    """Write every due day's files (oldest first); a failing day is logged and the rest go on."""
    now = now or datetime.now(UTC)
    o = cfg.opendata
    tz, hour, minute = schedule(cfg)
    days = due_reports(o.output_dir, now, tz, hour, minute, pattern=DAY_MARKER)
    return make_each(days, lambda day: make_opendata(engine, cfg, day, now=now), "open data",
                     o.output_dir)  # fmt: skip


def publish_due(cfg: CentralConfig, now: datetime | None = None,
                client: CkanClient | None = None) -> list[date] | None:  # fmt: skip
    """Publish every written, unpublished day to CKAN, oldest first.

    Returns the days published, or None when one failed (logged; the next pass retries it).
    """
    out: list[date] = []
    for day in ckan_due(cfg.opendata.output_dir, now or datetime.now(UTC)):
        try:
            client = client or client_for(cfg.opendata.ckan)
            publish_day(cfg, day, client=client)
        except Exception as exc:  # retried on the next pass
            log.error("open data %s: CKAN publishing failed: %s", day, exc)
            return None
        out.append(day)
    return out
