"""GET /metrics: central's Prometheus exposition, through prometheus_client.

CentralCollector reads the live state at scrape time (the collector's counters, the summary
board, the MQTT connections, the jobs lease, the HTTP request counters); the service adds its own
collectors through `ApiContext.collectors` (the ingest histograms, central/ingest/histograms.py;
sequence gaps, the daily report and certificates, central/ops_metrics.py). Each API has its own
registry, never prometheus_client's global one: several centrals (or test apps) in one process
must not mix their figures.

Names follow Prometheus conventions: base units (seconds, bytes), `_total` on counters, labels
for what varies (`connection`, `reason`, `agent`, `camera`) rather than names that change.
Latencies are histograms (summed across collector instances by a fleet's Prometheus), never
precomputed percentiles.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from central.summaries import SummaryBoard
from siaga import __version__

# Collector.metrics() keys exported as counters; dicts become one counter labelled by LABELS.
INGEST_COUNTERS = {
    "connects": "connections to the broker made",
    "received": "messages received from the broker",
    "stored": "new count windows stored",
    "duplicates": "count windows already stored (redelivered or re-sent)",
    "availability_updates": "agent availability messages stored",
    "status_updates": "agent status messages stored",
    "ignored": "messages ignored (older than what is stored)",
    "acked": "messages acknowledged to the broker after their commit",
    "batches": "batches committed",
    "db_errors": "failed database writes (each retried)",
}
INGEST_LABELS = {"rejected": "reason", "quarantined": "reason", "flagged": "flag"}
INGEST_GAUGES = {
    "connected": "1 while the ingest connection is up",
    "subscribed": "1 while every ingest subscription is granted",
    "queue_depth": "messages received and not yet committed",
    "queue_max": "the inbox's capacity in messages",
    "receive_max": "messages the broker may have in flight to this collector",
}


class ApiContext(Protocol):
    """What /metrics reads: central/api/app.py's ApiContext. A protocol, so that this module
    stays below the app that imports it."""

    @property
    def board(self) -> SummaryBoard: ...
    @property
    def ingest_metrics(self) -> Callable[[], Mapping[str, Any]]: ...
    @property
    def mqtt_connected(self) -> Callable[[], Mapping[str, bool]]: ...
    @property
    def runs_jobs(self) -> Callable[[], bool] | None: ...
    @property
    def requests(self) -> Mapping[tuple[str, str, int], int]: ...
    @property
    def request_seconds(self) -> Mapping[str, float]: ...
    @property
    def collectors(self) -> Sequence[Any]: ...


class CentralCollector:
    """A prometheus_client collector over one ApiContext, read at scrape time."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not read the live state."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every family of the API's context."""
        ctx = self.ctx
        ingest = dict(ctx.ingest_metrics())
        info = InfoMetricFamily("siaga_central", "this central instance and its version")
        info.add_metric([], {"instance": str(ingest.get("instance", "")), "version": __version__})
        yield info
        yield from ingest_families(ingest)
        yield from self._summaries()
        yield from camera_families(ctx, time.time())
        conn = GaugeMetricFamily("siaga_central_mqtt_connected", "1 while the MQTT connection "
                                 "is up", labels=["connection"])  # fmt: skip
        for name, up in sorted(ctx.mqtt_connected().items()):
            conn.add_metric([name], float(up))
        yield conn
        if ctx.runs_jobs is not None:
            yield GaugeMetricFamily("siaga_central_jobs_lease_held", "1 while this instance "
                                    "runs rules, reports and open data (the jobs lease)",
                                    value=float(ctx.runs_jobs()))  # fmt: skip
        yield from self._http()

    def _summaries(self) -> Iterator[Metric]:
        b = self.ctx.board
        yield CounterMetricFamily("siaga_central_summary_passes", "summary passes completed",
                                  value=b.passes)  # fmt: skip
        yield CounterMetricFamily("siaga_central_summary_failures", "summary passes that failed",
                                  value=b.failures)  # fmt: skip
        yield CounterMetricFamily("siaga_central_summaries_published", "summary messages "
                                  "published", value=b.published)  # fmt: skip
        yield GaugeMetricFamily("siaga_central_summary_pass_seconds", "duration of the last "
                                "summary pass", value=b.last_pass_s)  # fmt: skip
        age = b.age_s()
        # Before the first pass: the process's own age, so a pass that never comes still ages.
        since = age if age is not None else time.time() - _START
        yield GaugeMetricFamily("siaga_central_summary_age_seconds",
                                "seconds since the last summary pass (since start before the "
                                "first)", value=since)  # fmt: skip

    def _http(self) -> Iterator[Metric]:
        ctx = self.ctx
        # Copies first: the request counters are written on the event loop meanwhile.
        requests, seconds = dict(ctx.requests), dict(ctx.request_seconds)
        req = CounterMetricFamily("siaga_central_http_requests",
                                  "HTTP requests by route, method and status",
                                  labels=["route", "method", "status"])  # fmt: skip
        for (route, method, status), n in sorted(requests.items()):
            req.add_metric([route, method, str(status)], n)
        yield req
        sec = CounterMetricFamily("siaga_central_http_request_seconds", "time spent serving, "
                                  "by route", labels=["route"])  # fmt: skip
        for route, s in sorted(seconds.items()):
            sec.add_metric([route], s)
        yield sec


def ingest_families(ingest: Mapping[str, Any]) -> Iterator[Metric]:
    """The collector's counters and gauges (Collector.metrics()) as Prometheus families."""
    for key, help_ in INGEST_COUNTERS.items():
        if key in ingest:
            yield CounterMetricFamily(f"siaga_central_ingest_{key}", help_, value=ingest[key])
    if "stored" in ingest:
        accepted = ingest["stored"] + ingest.get("duplicates", 0)
        yield CounterMetricFamily("siaga_central_ingest_accepted",
                                  "valid count windows accepted (stored, or already stored)",
                                  value=accepted)  # fmt: skip
    for key, label in INGEST_LABELS.items():
        by = ingest.get(key)
        if isinstance(by, Mapping):
            family = CounterMetricFamily(f"siaga_central_ingest_{key}", f"messages {key}, by "
                                         f"{label}", labels=[label])  # fmt: skip
            for k, v in sorted(by.items()):
                family.add_metric([str(k)], v)
            yield family
    for key, help_ in INGEST_GAUGES.items():
        if key in ingest:
            yield GaugeMetricFamily(f"siaga_central_ingest_{key}", help_,
                                    value=float(ingest[key]))  # fmt: skip


def camera_families(ctx: ApiContext, now: float) -> Iterator[Metric]:
    """Per camera (from the summary board): when its newest window ended, and whether it is
    silent, an expected camera with no window within the summaries' stale_after_s."""
    last = GaugeMetricFamily("siaga_central_camera_last_window_end_timestamp_seconds",
                             "end of the newest count window stored for the camera",
                             labels=["agent", "camera"])  # fmt: skip
    silent = GaugeMetricFamily("siaga_central_camera_silent", "1 while an expected camera has "
                               "sent no window within [summaries] stale_after_s",
                               labels=["agent", "camera"])  # fmt: skip
    expected = n_silent = 0
    for s in ctx.board.of_level("camera"):
        p = s.payload
        labels = [str(p.get("agent_id")), str(p.get("camera_id"))]
        fresh = p.get("freshness") or {}
        newest = fresh.get("newest_window_end")
        end = datetime.fromisoformat(newest).timestamp() if newest else None
        if end is not None:
            last.add_metric(labels, end)
        if not (p.get("cameras") or {}).get("expected"):
            continue  # not registered, or registered as not expected to report
        expected += 1
        quiet = end is None or now - end > float(fresh.get("stale_after_s") or 0)
        n_silent += quiet
        silent.add_metric(labels, float(quiet))
    yield last
    yield silent
    yield GaugeMetricFamily("siaga_central_cameras_expected", "registered cameras expected to "
                            "report (as of the last summary pass)", value=expected)  # fmt: skip
    yield GaugeMetricFamily("siaga_central_cameras_silent", "expected cameras silent beyond "
                            "[summaries] stale_after_s", value=n_silent)  # fmt: skip


_START = time.time()  # about when the service started (it imports this at start)


def metrics_registry(ctx: ApiContext) -> CollectorRegistry:
    """The API's registry: its context, the service's collectors, process and platform."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CentralCollector(ctx))
    for collector in ctx.collectors:
        registry.register(collector)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def render_metrics(ctx: ApiContext) -> str:
    """Prometheus text exposition of ctx's figures (a fresh registry: for one-off reads)."""
    return generate_latest(metrics_registry(ctx)).decode()


def metrics_endpoint(ctx: ApiContext) -> Any:
    """The /metrics handler over one registry made now (the service's collectors keep their
    caches between scrapes)."""
    registry = metrics_registry(ctx)

    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
