"""Health: retained status messages, systemd watchdog pings, Prometheus metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent.config import HealthSection
from agent.holding import Holding
from agent.metrics import MetricsServer, Sample, render
from agent.outbox import Outbox
from agent.publisher import Publisher
from agent.worker import CameraWorker
from siaga import __version__
from siaga.sdnotify import Notifier
from siaga.wire import CameraHealth, Judgement, ModelInfo, StatusMessage

log = logging.getLogger(__name__)

HELP = {
    "siaga_agent_frames_processed_total": "frames sampled for processing",
    "siaga_agent_frames_inferred_total": "frames that passed the motion gate and were inferred",
    "siaga_agent_inference_ms": "moving average of detector time per inferred frame",
    "siaga_agent_reconnects_total": "camera reconnects",
    "siaga_agent_stalls_total": "camera stalls caught by the watchdog",
    "siaga_agent_corrupt_frames_total": "unreadable or empty frames skipped",
    "siaga_agent_people_total": "people counted (finished tracks)",
    "siaga_agent_people_judged_total": "of them, judged masked or unmasked (agent/judge.py)",
    "siaga_agent_faces_total": "face sightings tracked (within the camera's size limits)",
    "siaga_agent_faces_judgeable_total": "of them, judgeable: big, face-shaped, clear, agreed",
    "siaga_agent_outbox_depth": "messages waiting for the broker's acknowledgement",
    "siaga_agent_dropped_total": "windows dropped: by the outbox size cap, or from memory while "
    "the outbox could not be written",
    "siaga_agent_outbox_held": "windows waiting in memory because the outbox cannot be written",
    "siaga_agent_outbox_errors_total": "failed outbox writes (disk full, read-only, locked)",
    "siaga_agent_window_errors_total": "windows that could not be closed or handed on (a bug)",
    "siaga_agent_broker_connected": "1 while connected to the broker",
}


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


class HealthReporter:
    """Called once a second by the service; decides when to ping, publish and serve."""

    def __init__(self, watched: Watched) -> None:
        self.watched = watched
        self.last_status_mono = 0.0
        self._prev: dict[str, tuple[float, int]] = {}
        self.metrics: MetricsServer | None = None
        h = watched.settings
        if h.metrics_port is not None:
            self.metrics = MetricsServer(h.metrics_host, h.metrics_port, self.render_metrics)
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
        if now - self.last_status_mono >= src.settings.status_interval_s:
            self.publish()

    def camera_health(self, now_mono: float) -> dict[str, CameraHealth]:
        """Per-camera figures; fps is measured since the previous status."""
        out = {}
        judging = self.watched.judging
        for w in self.watched.workers:
            prev_t, prev_n = self._prev.get(w.camera.id, (self.watched.started_mono, 0))
            fps = (w.health.processed - prev_n) / max(1e-3, now_mono - prev_t)
            self._prev[w.camera.id] = (now_mono, w.health.processed)
            s = w.source.stats
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
        fps = ", ".join(f"{k} {v.fps:.1f} fps" for k, v in msg.cameras.items())
        failing = f"; outbox FAILING, {held.held} held in memory" if held.error else ""
        src.notifier.status(f"{fps}; outbox {msg.outbox_depth}{failing}")

    def _delivery(self) -> dict[str, Any]:
        """The status's delivery fields; none for a central before epochs (confirm = broker)."""
        src = self.watched
        if not src.confirm_central:
            return {}
        return {"epoch": src.outbox.epoch, "confirmed_seq": src.outbox.confirmed_seq()}

    def samples(self) -> list[Sample]:
        """Current metric values."""
        src = self.watched
        out: list[Sample] = []
        for w in src.workers:
            lab = {"camera": w.camera.id}
            s = w.source.stats
            out += [
                ("siaga_agent_frames_processed_total", lab, w.health.processed),
                ("siaga_agent_frames_inferred_total", lab, w.health.inferred),
                ("siaga_agent_inference_ms", lab, w.health.inference_ms),
                ("siaga_agent_reconnects_total", lab, s.reconnects),
                ("siaga_agent_stalls_total", lab, s.stalls),
                ("siaga_agent_corrupt_frames_total", lab, s.corrupt_frames),
                ("siaga_agent_people_total", lab, w.health.people),
                ("siaga_agent_people_judged_total", lab, w.health.judged),
                ("siaga_agent_faces_total", lab, w.health.faces),
                ("siaga_agent_faces_judgeable_total", lab, w.health.faces_judgeable),
                ("siaga_agent_window_errors_total", lab, w.health.window_errors),
            ]
        held = src.holding.stats()
        out += [
            ("siaga_agent_outbox_depth", {}, src.outbox.depth()),
            ("siaga_agent_dropped_total", {}, src.outbox.dropped() + held.dropped),
            ("siaga_agent_outbox_held", {}, held.held),
            ("siaga_agent_outbox_errors_total", {}, held.errors),
            ("siaga_agent_broker_connected", {}, float(src.publisher.connected)),
        ]
        return sorted(out, key=lambda s: s[0])

    def render_metrics(self) -> str:
        """The /metrics body."""
        return render(self.samples(), HELP)

    def close(self) -> None:
        """Stop the metrics server."""
        if self.metrics is not None:
            self.metrics.stop()
