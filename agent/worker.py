"""One camera's processing loop: sample → motion gate → detect → filter → judge → track → count."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
from prometheus_client import Histogram

from agent.config import AgentConfig, CameraSection
from agent.counter import Window, WindowCounter
from agent.debug import save_snapshot
from agent.filters import FaceFilter
from agent.judge import (
    JUDGEABLE,
    MASKED,
    NOT_JUDGED,
    Suitability,
    judge_faces,
    verdict,
)
from agent.load import LoadWatch
from agent.metrics import inference_histogram, latency_histogram
from agent.motion import MotionGate
from agent.source import Frame, VideoSource
from agent.tracker import Tracker, TrackInfo
from models.adapters import Adapter, MaskClassifier
from models.detections import Detections

log = logging.getLogger(__name__)
Emit = Callable[[CameraSection, Window], None]


@dataclass
class WorkerHealth:
    """Figures the status message and the metrics endpoint report for one camera."""

    processed: int = 0
    inferred: int = 0
    inference_ms: float = 0.0  # exponential moving average
    skipped: int = 0  # sampled frames the motion gate skipped
    windows: int = 0
    people: int = 0
    judged: int = 0  # of them, judged masked or unmasked
    faces: int = 0  # face sightings tracked (within the size limits)
    faces_judgeable: int = 0  # of them, judgeable (agent/judge.py)
    window_errors: int = 0  # windows that could not be closed or handed on (each logged)
    last_loop_mono: float = 0.0
    last_frame_mono: float = 0.0
    # Prometheus histograms (agent/metrics.py): buckets sum across cameras and boxes.
    inference_s: Histogram = field(default_factory=inference_histogram)
    latency_s: Histogram = field(default_factory=latency_histogram)  # capture → counted


def local_time(epoch_s: float) -> datetime:
    """An aware datetime in the box's local zone (WIB on Semarang's boxes)."""
    return datetime.fromtimestamp(epoch_s, UTC).astimezone()


class CameraWorker:
    """Runs in its own thread; the detector session is shared by all cameras of the box."""

    def __init__(
        self,
        cfg: AgentConfig,
        camera: CameraSection,
        detector: Adapter,
        face_filter: FaceFilter,
        emit: Emit,
        *,
        detect_conf: float | None = None,
        source: VideoSource | None = None,
        classifier: MaskClassifier | None = None,
    ) -> None:
        self.cfg = cfg
        self.camera = camera
        self.detector = detector
        self.filter = face_filter
        self.emit = emit
        self.detect_conf = detect_conf
        detect_fps = camera.detect_fps or cfg.sampling.detect_fps
        # The source converts only the frames this loop will look at (agent/source.py).
        self.source = source or VideoSource(camera, sample_fps=detect_fps)
        self.gate = MotionGate.from_config(cfg.sampling)
        self.tracker = Tracker(
            iou_threshold=cfg.tracker.iou_threshold,
            max_age_s=cfg.tracker.max_age_s,
            min_hits=cfg.tracker.min_hits,
        )
        self.detect_fps = detect_fps
        self.period_s = 1.0 / detect_fps
        # A track ends max_age_s after its last sighting: keep its window open that long.
        self.counter = WindowCounter(
            cfg.counting.window_s, grace_s=cfg.tracker.max_age_s + self.period_s
        )
        self.judging = cfg.judging
        self.classifier = classifier  # the judgement's second opinion (agent/judge.py)
        self.suitability = Suitability(cfg.judging)
        self.health = WorkerHealth()
        # Reached detect fps and overload, fed by the health reporter (agent/load.py).
        self.load = LoadWatch(camera.id, detect_fps, cfg.health.overload_window_s)
        self._last_error = ""  # the last distinct error logged, so a repeated one is said once
        self.thread = threading.Thread(target=self.run, name=f"worker-{camera.id}", daemon=True)
        self._stop = threading.Event()

    def start(self) -> None:
        """Start capture and processing."""
        self.source.start()
        self.thread.start()

    def stop(self) -> None:
        """Ask the loop to finish; `join` then waits for its final windows."""
        self._stop.set()

    def join(self, timeout_s: float) -> None:
        """Wait for the loop to end, then stop the capture."""
        self.thread.join(timeout_s)
        self.source.stop(timeout_s=0.5)

    @property
    def finished(self) -> bool:
        """True when a non-looping file has ended and everything is counted."""
        return not self.thread.is_alive() and self.source.stats.finished

    def run(self) -> None:
        """The loop: one frame per sampling period, windows closed as wall-clock time passes."""
        next_due = time.monotonic()
        while not self._stop.is_set():
            self.health.last_loop_mono = time.monotonic()
            frame = self.source.latest(timeout_s=max(0.05, next_due - time.monotonic()) + 0.5)
            if frame is not None and frame.mono_time >= next_due - self.period_s:
                self.process(frame)
                next_due = max(next_due + self.period_s, time.monotonic())
            self.source.check_stall()
            self.close_windows(time.time())
            if self.source.stats.finished and frame is None:
                break
            wait = next_due - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
        self.finish(time.time())

    def process(self, frame: Frame) -> None:
        """Run the stages on one sampled frame."""
        self.health.processed += 1
        self.health.last_frame_mono = frame.mono_time
        t = frame.wall_time
        cpu = self.source.cpu  # the camera's CPU per stage (agent/stagecpu.py)
        track_start = time.thread_time()
        inferred = self.gate.check(frame.image, frame.mono_time)
        if inferred:
            start, cpu_start = time.perf_counter(), time.thread_time()
            raw, prepared = self.detector.detect_staged(frame.image, conf=self.detect_conf)
            seconds = time.perf_counter() - start
            detect_cpu = time.thread_time() - cpu_start
            cpu.add("preprocess", prepared)
            cpu.add("inference", detect_cpu - prepared)
            track_start += detect_cpu
            self.health.inference_s.observe(seconds)
            ms = seconds * 1000
            self.health.inference_ms = (
                ms if self.health.inferred == 0 else (0.9 * self.health.inference_ms + 0.1 * ms)
            )
            self.health.inferred += 1
            faces, judgeable = self.judge(frame, raw)
            step = self.tracker.update(faces, frame.mono_time, judgeable=judgeable)
            debug = self.cfg.debug
            if debug.save_frames and self.health.inferred % debug.every_n_inferred == 1:
                save_snapshot(debug.dir, self.camera.id, frame.index, frame.image, faces)
        else:
            # Nothing moved: keep live tracks alive without adding hits or votes, so a person
            # standing still is neither ended and re-counted nor double-voted.
            step = self.tracker.still(frame.mono_time)
            self.health.skipped += 1
        when = local_time(t)
        self.counter.frame(when, inferred=inferred, occupancy=len(step.active))
        for track in step.finished:
            self.count_person(track, t, frame.mono_time)
        cpu.add("track", time.thread_time() - track_start)
        self.health.latency_s.observe(max(0.0, time.monotonic() - frame.mono_time))

    def judge(self, frame: Frame, raw: Detections) -> tuple[Detections, np.ndarray]:
        """The faces to track and which of them may vote on masks (agent/judge.py).

        Every confident face in the zones is assessed, whatever its size: the camera's
        suitability weighs the tiny ones too. Those within the size limits are tracked."""
        h, w = frame.image.shape[:2]
        in_view = self.filter.apply(raw, w, h, check_size=False)
        seen, codes = judge_faces(frame.image, in_view, self.judging, self.classifier)
        self.suitability.observe(codes)
        counted = self.filter.size_mask(seen)
        judgeable = codes[counted] == JUDGEABLE
        self.health.faces += int(counted.sum())
        self.health.faces_judgeable += int(judgeable.sum())
        return seen.select(counted), judgeable

    def count_person(self, track: TrackInfo, now_wall: float, now_mono: float) -> None:
        """Attribute a finished track to the window of its last sighting (wall clock), judged
        masked or unmasked only on enough judgeable sightings (agent/judge.py)."""
        judged = verdict(track.judged_hits, track.judged_votes, self.judging)
        self.health.people += 1
        self.health.judged += judged != NOT_JUDGED
        masked = None if judged == NOT_JUDGED else judged == MASKED
        when = local_time(now_wall - (now_mono - track.last_seen))
        self.counter.person(when, masked=masked)

    def close_windows(self, now_wall: float) -> None:
        """Emit every window that has ended."""
        try:
            windows = self.counter.close_due(local_time(now_wall))
        except Exception as exc:
            self._failed("closing windows", exc)
            return
        for window in windows:
            self._emit(window)

    def finish(self, now_wall: float, now_mono: float | None = None) -> None:
        """At shutdown or end of file: end every track and emit the last, partial window.

        `now_mono` defaults to the monotonic clock; a clip replayed on a simulated clock
        (calibration preview, benchmarks) passes its own."""
        now_mono = time.monotonic() if now_mono is None else now_mono
        for track in self.tracker.flush(now_mono):
            self.count_person(track, now_wall, now_mono)
        try:
            windows = self.counter.close_all(local_time(now_wall))
        except Exception as exc:
            self._failed("closing the last windows", exc)
            return
        for window in windows:
            self._emit(window)

    def _emit(self, window: Window) -> None:
        """Hand one window on; whatever goes wrong costs that window, never the camera loop."""
        self.health.windows += 1
        window = replace(window, suitable=self.suitability.current().suitable)
        try:
            # The service keeps windows in memory while the outbox fails (agent/holding.py),
            # so an exception here is a bug; it must not end the thread as OutboxError did.
            self.emit(self.camera, window)
        except Exception as exc:
            self._failed(f"emitting window {window.start.isoformat()}", exc)

    def _failed(self, doing: str, exc: Exception) -> None:
        self.health.window_errors += 1
        key = f"{type(exc).__name__}: {exc}"
        if key != self._last_error:  # with its traceback once, not at every loop turn
            self._last_error = key
            log.exception("camera %s: %s failed; the loop goes on", self.camera.id, doing)
