"""Operations figures for /metrics that the service owns: sequence gaps per agent, the daily
report, and the expiry of the certificates central knows (central/api/metrics.py serves them).

Each is a prometheus_client collector read at scrape time. The gap figures come from a query
over every stored window (central/store/writes.py Store.gaps), so they are computed at most once
per `ttl_s` and the scrape in between serves the last result: a Prometheus scraping every 15 s
must not run that query four times a minute on a city's database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from central.config import MqttSection, ReportSection
from central.daily import report_cutoff, written_days

log = logging.getLogger(__name__)
GAPS_TTL_S = 60.0


@dataclass(frozen=True)
class GapFigures:
    """Per agent: missing seq runs and messages (every epoch together)."""

    gaps: dict[str, int]
    missing: dict[str, int]


class GapsCollector:
    """siaga_central_seq_gaps / siaga_central_seq_missing_messages per agent (0 for agents
    without gaps, so that a gap shows as a change, and an alert resolves when it is filled)."""

    def __init__(self, gaps: Callable[[], Iterable[object]], agents: Callable[[], Iterable[str]],
                 *, ttl_s: float = GAPS_TTL_S) -> None:  # fmt: skip
        self._gaps, self._agents, self.ttl_s = gaps, agents, ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[float, GapFigures] | None = None

    def figures(self) -> GapFigures:
        """The cached figures, recomputed when older than ttl_s."""
        with self._lock:  # one scrape computes; a concurrent one waits for its result
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self.ttl_s:
                self._cached = (now, self._compute())
            return self._cached[1]

    def _compute(self) -> GapFigures:
        gaps = {a: 0 for a in self._agents()}
        missing = dict(gaps)
        for g in self._gaps():
            agent, size = str(g.agent_id), int(g.size)  # type: ignore[attr-defined]
            gaps[agent] = gaps.get(agent, 0) + 1
            missing[agent] = missing.get(agent, 0) + size
        return GapFigures(gaps, missing)

    def describe(self) -> list[Metric]:
        """Nothing up front (describing must not query)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The two gauges per agent."""
        try:
            f = self.figures()
        except Exception:  # the database is away: the scrape goes on without these
            log.warning("metrics: sequence gaps not available", exc_info=True)
            return
        runs = GaugeMetricFamily("siaga_central_seq_gaps", "missing seq runs between the "
                                 "lowest and highest stored seq of the agent",
                                 labels=["agent"])  # fmt: skip
        lost = GaugeMetricFamily("siaga_central_seq_missing_messages", "count messages missing "
                                 "between the lowest and highest stored seq of the agent",
                                 labels=["agent"])  # fmt: skip
        for agent in sorted(f.gaps):
            runs.add_metric([agent], f.gaps[agent])
            lost.add_metric([agent], f.missing[agent])
        yield runs
        yield lost


class ReportCollector:
    """When the newest daily report's cut-off was (its day at [report] hour:minute local time)
    and when it was written. "Not sent by 12:15" is then `time() - cutoff > 24 h 15 min`,
    whatever the zone: the newest cut-off is yesterday's until today's report is written."""

    def __init__(self, cfg: ReportSection, written: Callable[[], int] | None = None) -> None:
        self.cfg = cfg
        self.written = written  # reports this process wrote (the scheduler's count)

    def describe(self) -> list[Metric]:
        """Nothing up front."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Cut-off and write time of the newest report (0 when none is written)."""
        r = self.cfg
        cutoff = written_at = 0.0
        days = written_days(r.output_dir)
        if days:
            newest: date = max(days)
            cutoff = report_cutoff(newest, ZoneInfo(r.timezone), r.hour, r.minute).timestamp()
            path = r.output_dir / f"siaga-report-{newest.isoformat()}.json"
            written_at = _mtime(path)
        yield GaugeMetricFamily("siaga_central_report_last_cutoff_timestamp_seconds",
                                "cut-off of the newest daily report written (0: none)",
                                value=cutoff)  # fmt: skip
        yield GaugeMetricFamily("siaga_central_report_last_written_timestamp_seconds",
                                "when the newest daily report was written (0: none)",
                                value=written_at)  # fmt: skip
        if self.written is not None:
            yield CounterMetricFamily("siaga_central_reports_written", "daily reports this "
                                      "process wrote", value=self.written())  # fmt: skip


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class CertificateCollector:
    """Expiry (notAfter) of the certificates central knows: its MQTT CA and client certificate
    files, and the broker's certificate as seen at the last TLS connection. Files are re-read
    only when they change."""

    def __init__(self, mqtt: MqttSection, broker_expiry: Callable[[], float | None]) -> None:
        self.files = {"mqtt_ca": mqtt.ca_file, "mqtt_client": mqtt.cert_file}
        self.broker_expiry = broker_expiry
        self._seen: dict[Path, tuple[float, float | None]] = {}  # path → (mtime, notAfter)

    def describe(self) -> list[Metric]:
        """Nothing up front."""
        return []

    def collect(self) -> Iterator[Metric]:
        """One sample per certificate known (none without TLS)."""
        family = GaugeMetricFamily("siaga_central_certificate_expiry_timestamp_seconds",
                                   "when a certificate central uses expires (notAfter)",
                                   labels=["certificate"])  # fmt: skip
        for name, path in self.files.items():
            expiry = self._file_expiry(path) if path is not None else None
            if expiry is not None:
                family.add_metric([name], expiry)
        broker = self.broker_expiry()
        if broker is not None:
            family.add_metric(["mqtt_broker"], broker)
        yield family

    def _file_expiry(self, path: Path) -> float | None:
        mtime = _mtime(path)
        seen = self._seen.get(path)
        if seen is None or seen[0] != mtime:
            seen = (mtime, earliest_expiry(path))
            self._seen[path] = seen
        return seen[1]


def earliest_expiry(path: Path) -> float | None:
    """The earliest notAfter of the PEM certificates in path (a CA bundle may hold several)."""
    try:
        from cryptography import x509

        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (ImportError, OSError, ValueError):
        return None
    return min(c.not_valid_after_utc.timestamp() for c in certs) if certs else None
