"""Health: retained status messages, systemd watchdog pings, Prometheus metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent.config import HealthSection
from agent.holding import Holding
from agent.load import Observation
from agent.metrics import MetricsServer, agent_registry, render
from agent.outbox import Outbox
from agent.publisher import Publisher
from agent.worker import CameraWorker
from siaga import __version__
from siaga.sdnotify import Notifier
from siaga.wire import CameraCalibration, CameraHealth, Judgement, ModelInfo, StatusMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Watched:
    """What the reporter reads and where it reports, handed over by the service (which the
    reporter never sees: agent/service.py builds this)."""

    agent_id: str
    settings: HealthSection
    judging: bool  # the status carries each camera's judgement (judging.enabled)
    confirm_central: bool  # the status carries epoch and confirmed_seq (mqtt.confirm)
    model: ModelInfo
    started_mono: float
    workers: Sequence[CameraWorker]
    outbox: Outbox
    holding: Holding
    publisher: Publisher
    notifier: Notifier
    # camera id → its calibration (version, detector confusion) for the status; none: uncalibrated
    calibration: Mapping[str, CameraCalibration | None] = field(default_factory=dict)


class HealthReporter:
    """Called once a second by the service; decides when to ping, publish and serve."""

    def __init__(self, watched: Watched) -> None:
        self.watched = watched
        self.last_status_mono = 0.0
        self._prev: dict[str, tuple[float, int]] = {}
        self.registry = agent_registry(watched)  # this agent's own (agent/metrics.py)
        self.metrics: MetricsServer | None = None
        h = watched.settings
        if h.metrics_port is not None:
            self.metrics = MetricsServer(h.metrics_host, h.metrics_port, self.registry)
            self.metrics.start()

    def healthy(self, now_mono: float) -> bool:
        """Every camera loop is turning, and each is either getting frames or reconnecting."""
        limit = max(5.0, 3 * max(w.period_s for w in self.watched.workers))
        for w in self.watched.workers:
            if w.finished:
                continue
            if now_mono - w.health.last_loop_mono > limit:
                return False
        return True

    def tick(self) -> None:
        """Watchdog ping while healthy; status at its interval."""
        now = time.monotonic()
        src = self.watched
        if self.healthy(now):
            src.notifier.watchdog()
        else:
            log.error("a camera loop is stuck; withholding the watchdog ping")
        self.watch_load(now)
        if now - self.last_status_mono >= src.settings.status_interval_s:
            self.publish()

    def watch_load(self, now_mono: float) -> None:
        """Feed each camera's overload watch (agent/load.py), which logs episodes."""
        for w in self.watched.workers:
            s = w.source.stats
            w.load.observe(Observation(
                now_mono, w.health.processed, s.reconnects + s.stalls,
                live=s.connected and not s.finished, nominal_fps=s.nominal_fps,
            ))  # fmt: skip

    def camera_health(self, now_mono: float) -> dict[str, CameraHealth]:
        """Per-camera figures; fps is measured since the previous status."""
        out = {}
        judging = self.watched.judging
        for w in self.watched.workers:
            prev_t, prev_n = self._prev.get(w.camera.id, (self.watched.started_mono, 0))
            fps = (w.health.processed - prev_n) / max(1e-3, now_mono - prev_t)
            self._prev[w.camera.id] = (now_mono, w.health.processed)
            s, load = w.source.stats, w.load
            j = w.suitability.current()
            judgement = (
                Judgement(suitable=j.suitable, reason=j.reason, faces=j.faces,
                          judgeable=j.judgeable)
                if judging else None
            )  # fmt: skip
            out[w.camera.id] = CameraHealth(
                fps=round(fps, 2), inference_ms=round(w.health.inference_ms, 2),
                reconnects=s.reconnects, stalls=s.stalls, corrupt_frames=s.corrupt_frames,
                connected=s.connected, judgement=judgement,
                calibration=self.watched.calibration.get(w.camera.id),
                detect_fps=None if load.reached_fps is None else round(load.reached_fps, 2),
                overloaded=load.overloaded, decoder=w.source.decoder.describe()[:200],
            )  # fmt: skip
        return out

    def publish(self) -> None:
        """Publish the retained status message."""
        src = self.watched
        now = time.monotonic()
        self.last_status_mono = now
        held = src.holding.stats()  # windows the outbox could not take yet (agent/holding.py)
        msg = StatusMessage(
            agent_id=src.agent_id, time=datetime.now(UTC).astimezone(),
            version=__version__, uptime_s=round(now - src.started_mono, 1), model=src.model,
            cameras=self.camera_health(now), outbox_depth=src.outbox.depth(),
            dropped=src.outbox.dropped() + held.dropped, last_seq=src.outbox.last_seq(),
            outbox_error=None if held.error is None else held.error[:500], held=held.held,
            **self._delivery(),
        )  # fmt: skip
        src.publisher.publish_status(msg)
        fps = ", ".join(f"{k} {v.fps:.1f} fps{' OVERLOADED' if v.overloaded else ''}"
                        for k, v in msg.cameras.items())  # fmt: skip
        failing = f"; outbox FAILING, {held.held} held in memory" if held.error else ""
        src.notifier.status(f"{fps}; outbox {msg.outbox_depth}{failing}")

    def _delivery(self) -> dict[str, Any]:
        """The status's delivery fields; none for a central before epochs (confirm = broker)."""
        src = self.watched
        if not src.confirm_central:
            return {}
        return {"epoch": src.outbox.epoch, "confirmed_seq": src.outbox.confirmed_seq()}

    def render_metrics(self) -> str:
        """The /metrics body."""
        return render(self.registry)

    def close(self) -> None:
        """Stop the metrics server."""
        if self.metrics is not None:
            self.metrics.stop()
