"""The agent's Prometheus endpoint: prometheus_client over a registry of this agent's own.

Why a registry per agent, not prometheus_client's global one: tests and tools run several
agents in one process, and each must expose only its own figures. The figures are read at
scrape time from the live objects (workers, outbox, holding, publisher) by AgentCollector; the
two per-frame histograms (inference time, frame-to-count latency) are prometheus_client
Histograms each worker observes (agent/worker.py, WorkerHealth), so that a fleet's Prometheus
can sum their buckets across boxes and take quantiles of the whole fleet, which precomputed
averages or percentiles never allow. Names follow Prometheus conventions: base units (seconds),
`_total` on counters, one `camera` label per camera figure.

The endpoint listens on loopback unless `[health] metrics_host` says otherwise (a fleet's
Prometheus scraping the boxes; see docs/deployment.md for the firewall rule that must go with it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from agent.holding import Holding
from agent.outbox import Outbox
from agent.publisher import Publisher
from siaga import __version__
from siaga.wire import ModelInfo

log = logging.getLogger(__name__)

# Seconds. Inference on a box's CPU takes 10-300 ms; a frame is counted within a few periods.
INFERENCE_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)
LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# name (without _total for counters) → help; per-camera figures from each worker.
CAMERA_COUNTERS = {
    "siaga_agent_frames_read": "frames read from the camera (before sampling)",
    "siaga_agent_frames_processed": "frames sampled for processing",
    "siaga_agent_frames_inferred": "frames that passed the motion gate and were inferred",
    "siaga_agent_frames_skipped": "sampled frames the motion gate skipped (nothing moved)",
    "siaga_agent_reconnects": "camera reconnects",
    "siaga_agent_stalls": "camera stalls caught by the watchdog",
    "siaga_agent_corrupt_frames": "unreadable or empty frames skipped",
    "siaga_agent_windows": "count windows closed and handed to the outbox",
    "siaga_agent_people": "people counted (finished tracks)",
    "siaga_agent_people_judged": "of them, judged masked or unmasked (agent/judge.py)",
    "siaga_agent_faces": "face sightings tracked (within the camera's size limits)",
    "siaga_agent_faces_judgeable": "of them, judgeable: big, face-shaped, clear, agreed",
    "siaga_agent_window_errors": "windows that could not be closed or handed on (a bug)",
    "siaga_agent_frames_dropped": "frames converted for the worker but replaced by a newer one "
    "before it took them (the worker fell behind)",
}


def inference_histogram() -> Histogram:
    """One camera's detector time per inferred frame (unregistered: AgentCollector labels it)."""
    return Histogram("siaga_agent_inference_seconds", "detector time per inferred frame",
                     registry=None, buckets=INFERENCE_BUCKETS_S)  # fmt: skip


def latency_histogram() -> Histogram:
    """One camera's capture → counted time per processed frame (queueing included)."""
    return Histogram("siaga_agent_frame_to_count_seconds", "frame capture to its counting",
                     registry=None, buckets=LATENCY_BUCKETS_S)  # fmt: skip


class Watched(Protocol):
    """What AgentCollector reads: agent/health.py's Watched. A protocol, so that this module
    stays below health and worker (the worker imports the histograms from here)."""

    @property
    def agent_id(self) -> str: ...
    @property
    def model(self) -> ModelInfo: ...
    @property
    def workers(self) -> Sequence[Any]: ...  # agent.worker.CameraWorker
    @property
    def outbox(self) -> Outbox: ...
    @property
    def holding(self) -> Holding: ...
    @property
    def publisher(self) -> Publisher: ...


class AgentCollector:
    """A prometheus_client collector reading one agent's live figures at scrape time."""

    def __init__(self, watched: Watched) -> None:
        self.watched = watched

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not read the live objects."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every family, with a sample per camera where the figure is a camera's."""
        src = self.watched
        info = InfoMetricFamily("siaga_agent", "this agent: id, version and model")
        m = src.model
        info.add_metric([], {"agent": src.agent_id, "version": __version__, "model": m.name,
                             "model_version": m.version})  # fmt: skip
        yield info
        yield from self._cameras()
        held = src.holding.stats()
        yield _gauge("siaga_agent_outbox_depth", "messages waiting for the broker's "
                     "acknowledgement", src.outbox.depth())  # fmt: skip
        yield _counter("siaga_agent_outbox_dropped", "windows dropped: by the outbox size cap, "
                       "or from memory while the outbox could not be written",
                       src.outbox.dropped() + held.dropped)  # fmt: skip
        yield _gauge("siaga_agent_outbox_held", "windows waiting in memory because the outbox "
                     "cannot be written", held.held)  # fmt: skip
        yield _counter("siaga_agent_outbox_errors", "failed outbox writes (disk full, read-only, "
                       "locked)", held.errors)  # fmt: skip
        yield _gauge("siaga_agent_broker_connected", "1 while connected to the broker",
                     float(src.publisher.connected))  # fmt: skip

    def _cameras(self) -> Iterator[Metric]:
        workers = self.watched.workers
        counters = {n: CounterMetricFamily(n, h, labels=["camera"])
                    for n, h in CAMERA_COUNTERS.items()}  # fmt: skip
        up = GaugeMetricFamily("siaga_agent_camera_up", "1 while the camera delivers frames",
                               labels=["camera"])  # fmt: skip
        infer = HistogramMetricFamily("siaga_agent_inference_seconds", "detector time per "
                                      "inferred frame", labels=["camera"])  # fmt: skip
        latency = HistogramMetricFamily("siaga_agent_frame_to_count_seconds",
                                        "frame capture to its counting (queueing, detection, "
                                        "tracking)", labels=["camera"])  # fmt: skip
        stage_cpu = CounterMetricFamily(
            "siaga_agent_stage_cpu_seconds", "CPU seconds per camera and stage, measured in the "
            "thread that runs it (agent/stagecpu.py)", labels=["camera", "stage"])  # fmt: skip
        fps = GaugeMetricFamily("siaga_agent_detect_fps", "detect fps the camera reached over "
                                "the overload window (agent/load.py)",
                                labels=["camera"])  # fmt: skip
        overloaded = GaugeMetricFamily("siaga_agent_camera_overloaded", "1 while the camera's "
                                       "detect fps is under 90 % of its setting",
                                       labels=["camera"])  # fmt: skip
        for w in workers:
            cam, h, s = [w.camera.id], w.health, w.source.stats
            for stage, seconds in w.source.cpu.seconds.items():
                stage_cpu.add_metric([w.camera.id, stage], seconds)
            if w.load.reached_fps is not None:
                fps.add_metric(cam, w.load.reached_fps)
            overloaded.add_metric(cam, float(w.load.overloaded))
            values = {
                "siaga_agent_frames_read": s.frames, "siaga_agent_frames_processed": h.processed,
                "siaga_agent_frames_inferred": h.inferred, "siaga_agent_frames_skipped": h.skipped,
                "siaga_agent_reconnects": s.reconnects, "siaga_agent_stalls": s.stalls,
                "siaga_agent_corrupt_frames": s.corrupt_frames, "siaga_agent_windows": h.windows,
                "siaga_agent_people": h.people, "siaga_agent_people_judged": h.judged,
                "siaga_agent_faces": h.faces, "siaga_agent_faces_judgeable": h.faces_judgeable,
                "siaga_agent_window_errors": h.window_errors,
                "siaga_agent_frames_dropped": s.dropped,
            }  # fmt: skip
            for name, value in values.items():
                counters[name].add_metric(cam, value)
            up.add_metric(cam, float(s.connected))
            _add_histogram(infer, cam, h.inference_s)
            _add_histogram(latency, cam, h.latency_s)
        yield from counters.values()
        yield from (up, infer, latency, stage_cpu, fps, overloaded)


def _add_histogram(family: HistogramMetricFamily, labels: list[str], hist: Histogram) -> None:
    """Copy an unlabelled Histogram's cumulative buckets and sum under `labels`."""
    buckets: list[tuple[str, float]] = []
    total = 0.0
    for metric in hist.collect():
        for s in metric.samples:
            if s.name.endswith("_bucket"):
                buckets.append((s.labels["le"], s.value))
            elif s.name.endswith("_sum"):
                total = s.value
    family.add_metric(labels, buckets, total)


def _gauge(name: str, help_: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_, value=value)


def _counter(name: str, help_: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_, value=value)


def agent_registry(watched: Watched) -> CollectorRegistry:
    """This agent's registry: its figures, plus process, platform and garbage-collector ones."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(watched))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> str:
    """The registry in Prometheus text exposition format (0.0.4)."""
    return generate_latest(registry).decode()


class MetricsServer:
    """Serves the registry over HTTP (prometheus_client's server) in a background thread."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self.host, self.asked_port, self.registry = host, port, registry
        self._server: WSGIServer | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when 0 was asked for)."""
        server = self._server
        return self.asked_port if server is None else int(server.server_address[1])

    @property
    def bound_host(self) -> str | None:
        """The address the socket is bound to (None before start)."""
        server = self._server
        return None if server is None else str(server.server_address[0])

    def start(self) -> None:
        """Listen and serve."""
        self._server, _thread = start_http_server(self.asked_port, addr=self.host,
                                                  registry=self.registry)  # fmt: skip
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def stop(self) -> None:
        """Stop serving."""
        server = self._server
        if server is not None:
            server.shutdown()
            server.server_close()
            self._server = None
