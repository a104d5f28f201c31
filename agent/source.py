"""Video sources through OpenCV: files, RTSP/HTTP streams, USB cameras.

A capture thread grabs (demuxes and decodes) every frame, as a live stream must be read, but
converts to a BGR image (`retrieve`) only the frames the worker will look at: those due by the
camera's detect fps, and any while the worker is waiting for one: converting all 25 frames a
second of a camera looked at 5 times a second cost a third more CPU than decoding them (issue
18). It keeps only the newest frame, so a slow detector never works on stale video. Open/read
timeouts, a stall watchdog, and reconnects with capped exponential backoff plus jitter keep a
flaky camera from ever stopping the agent.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from agent.capture import Capture, Decoder, open_capture, open_decoding
from agent.config import CameraSection
from agent.stagecpu import StageCpu
from siaga.backoff import backoff_s
from siaga.camera_url import redact_url
from siaga.settings import ConfigError

__all__ = ["Capture", "Frame", "SourceStats", "VideoSource", "is_file_source", "is_synthetic",
           "open_capture", "valid_frame"]  # fmt: skip
log = logging.getLogger(__name__)
# Consecutive unreadable frames after which the stream is considered broken and reopened.
MAX_BAD_READS = 25


@dataclass(frozen=True)
class Frame:
    """A captured frame with its wall-clock and monotonic capture times."""

    image: np.ndarray
    index: int
    wall_time: float
    mono_time: float


@dataclass
class SourceStats:
    """Health counters of one source."""

    frames: int = 0  # grabbed (decoded)
    retrieved: int = 0  # of them, converted to an image for the worker
    dropped: int = 0  # of those, replaced by a newer one before the worker took them
    nominal_fps: float = 0.0  # the frame rate the stream or file declares (0: unknown)
    reconnects: int = 0
    stalls: int = 0
    corrupt_frames: int = 0
    connected: bool = False
    finished: bool = False


def is_file_source(source: str) -> bool:
    """True for a local file path or a synthetic source (paced at its own frame rate)."""
    return "://" not in source and not source.startswith("usb:")


def is_synthetic(source: str) -> bool:
    """True for a `synthetic:` test/demo source."""
    return source.startswith("synthetic:")


def valid_frame(image: np.ndarray | None) -> bool:
    """A decodable, non-empty 3-channel frame."""
    return image is not None and image.ndim == 3 and image.shape[2] == 3 and image.size > 0


class VideoSource:
    """Reads one camera in its own thread; `latest()` hands out only the newest frame.

    `sample_fps` (the camera's detect fps) says which frames are converted to images: one per
    1/sample_fps seconds, plus the next one whenever the consumer is waiting for a frame. None
    converts every frame (tools that want them all)."""

    def __init__(
        self,
        camera: CameraSection,
        *,
        opener: Callable[..., Capture] | None = None,
        seed: int | None = None,
        sample_fps: float | None = None,
    ) -> None:
        self.camera = camera
        self.stats = SourceStats()
        self.cpu = StageCpu()  # decode and convert are counted here (agent/stagecpu.py)
        self.decoder = Decoder(camera.hw_accel)
        self._opener = opener
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._handed: int = -1
        self._waiting = 0  # consumers blocked in latest(): the next frame is converted for them
        self._period = 1.0 / sample_fps if sample_fps else 0.0
        self._next_sample = 0.0
        self._stop = threading.Event()
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._last_frame_mono = time.monotonic()

    def start(self) -> None:
        """Start (or restart after a stall) the capture thread."""
        with self._cond:
            self._generation += 1
            gen = self._generation
        self._last_frame_mono = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, args=(gen,), name=f"capture-{self.camera.id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop capturing; a thread stuck in a blocking read is left to die on its own."""
        self._stop.set()
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def latest(self, timeout_s: float) -> Frame | None:
        """The newest frame not handed out before, waiting up to timeout_s for one."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._latest is None or self._latest.index == self._handed:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set() or self.stats.finished:
                    return None
                self._waiting += 1
                try:
                    self._cond.wait(remaining)
                finally:
                    self._waiting -= 1
            self._handed = self._latest.index
            return self._latest

    def check_stall(self, now_mono: float | None = None) -> bool:
        """Watchdog: restart capture when no frame came for stall_timeout_s. True if it did."""
        now = time.monotonic() if now_mono is None else now_mono
        if self.stats.finished or self._stop.is_set():
            return False
        if now - self._last_frame_mono <= self.camera.stall_timeout_s:
            return False
        self.stats.stalls += 1
        self.stats.connected = False
        log.warning(
            "camera %s: no frame for %.0f s, restarting capture",
            self.camera.id,
            now - self._last_frame_mono,
        )
        self.start()  # the old thread sees a stale generation and exits when its read returns
        return True

    def _current(self, gen: int) -> bool:
        return gen == self._generation and not self._stop.is_set()

    def _run(self, gen: int) -> None:
        attempt = 0
        index = self._latest.index + 1 if self._latest else 0
        while self._current(gen):
            cap = self._open()
            if cap is None:
                attempt = self._wait_backoff(attempt, gen)
                continue
            attempt = 0
            index = self._read_loop(cap, gen, index)
            cap.release()
            if self.stats.finished:
                return
            if self._current(gen):
                self.stats.reconnects += 1
                attempt = self._wait_backoff(attempt, gen)

    def _open(self) -> Capture | None:
        src, cam = self.camera.source, self.camera
        if is_file_source(src) and not is_synthetic(src) and not Path(src).is_file():
            log.error("camera %s: video file %s not found", cam.id, src)
            return None
        try:
            url = cam.open_source()  # with its password, never logged
        except ConfigError as exc:
            log.error("camera %s: %s", cam.id, exc)
            return None
        kw = {"open_timeout_s": cam.open_timeout_s, "read_timeout_s": cam.read_timeout_s,
              "threads": cam.decode_threads, "hw_accel": cam.hw_accel}  # fmt: skip
        if self._opener is None:
            cap, decoder = open_decoding(url, **kw)  # type: ignore[arg-type]
        else:
            cap, decoder = self._opener(url, **kw), Decoder(cam.hw_accel)
        if not cap.isOpened():
            log.warning("camera %s: cannot open %s", cam.id, redact_url(src))
            cap.release()
            return None
        if decoder.note and decoder != self.decoder:
            log.warning("camera %s: hardware decoding %s", cam.id, decoder.note)
        self.decoder = decoder
        self.stats.connected = True
        threads = f"{cam.decode_threads} thread(s)" if cam.decode_threads else "FFmpeg's threads"
        log.info("camera %s: opened %s (decoder %s, %s)", cam.id, redact_url(src), decoder.used,
                 threads)  # fmt: skip
        return cap

    def _wait_backoff(self, attempt: int, gen: int) -> int:
        delay = backoff_s(
            attempt,
            min_s=self.camera.reconnect_min_s,
            max_s=self.camera.reconnect_max_s,
            rng=self._rng,
        )
        self._stop.wait(delay)
        return attempt + 1

    def _wanted(self, now: float) -> bool:
        """Convert this grabbed frame? When it is due by the sampling schedule, or the consumer
        waits. The schedule advances by whole periods, so a camera whose frames arrive unevenly
        still gives sample_fps a second over time; a late frame sets it right after a pause."""
        if self._period <= 0:
            return True
        if now < self._next_sample and not self._waiting:
            return False
        self._next_sample = max(self._next_sample + self._period, now + self._period / 2)
        return True

    def _read_loop(self, cap: Capture, gen: int, index: int) -> int:
        """Read until the stream breaks, the file ends or the thread is superseded."""
        pace = is_file_source(self.camera.source)
        self.stats.nominal_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        period = 1.0 / (self.stats.nominal_fps or 25.0) if pace else 0.0
        next_due = time.monotonic()
        bad = 0  # failed grabs and retrieves since the last good image
        cpu = self.cpu
        while self._current(gen):
            with cpu.timed("decode"):
                ok = cap.grab()
            if not ok and pace:
                if self.camera.loop and cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
                    continue
                self._finish()
                return index
            image = None
            if ok:
                self.stats.frames += 1
                if pace:  # a file plays at its own frame rate, like a live camera
                    next_due += period
                    delay = next_due - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                    else:
                        next_due = time.monotonic()
                if gen == self._generation:
                    self._last_frame_mono = time.monotonic()  # the camera is alive
                if not self._wanted(time.monotonic()):
                    index += 1
                    continue
                with cpu.timed("convert"):
                    ok, image = cap.retrieve()
            if not ok or image is None or not valid_frame(image):
                self.stats.corrupt_frames += 1
                bad += 1
                if bad >= MAX_BAD_READS:
                    log.warning(
                        "camera %s: %d bad reads in a row, reconnecting", self.camera.id, bad
                    )
                    self.stats.connected = False
                    return index
                continue
            bad = 0
            self._publish(Frame(image, index, time.time(), time.monotonic()), gen)
            index += 1
        return index

    def _finish(self) -> None:
        self.stats.finished = True
        self.stats.connected = False
        with self._cond:
            self._cond.notify_all()
        log.info("camera %s: end of file %s", self.camera.id, self.camera.source)

    def _publish(self, frame: Frame, gen: int) -> None:
        with self._cond:
            if gen != self._generation:
                return
            latest = self._latest
            if latest is not None and latest.index != self._handed:
                self.stats.dropped += 1
            self._latest = frame
            self._last_frame_mono = frame.mono_time
            self.stats.retrieved += 1
            self._cond.notify_all()
