"""Video sources through OpenCV: files, RTSP/HTTP streams, USB cameras.

A capture thread reads continuously and keeps only the newest frame, so a slow detector never
works on stale video. Open/read timeouts, a stall watchdog, and reconnects with capped
exponential backoff plus jitter keep a flaky camera from ever stopping the agent.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from agent.config import CameraSection
from agent.synthetic import SyntheticCapture
from siaga.backoff import backoff_s
from siaga.camera_url import redact_url
from siaga.settings import ConfigError

log = logging.getLogger(__name__)
# Consecutive unreadable frames after which the stream is considered broken and reopened.
MAX_BAD_READS = 25


class Capture(Protocol):
    """What the source needs of cv2.VideoCapture (a fake stands in for it in tests)."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, Any]: ...
    def get(self, prop: int) -> float: ...
    def set(self, prop: int, value: float) -> bool: ...
    def release(self) -> None: ...


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

    frames: int = 0
    reconnects: int = 0
    stalls: int = 0
    corrupt_frames: int = 0
    connected: bool = False
    finished: bool = False


def open_capture(source: str, *, open_timeout_s: float, read_timeout_s: float) -> Capture:
    """Open a file, URL or `usb:N` with OpenCV; timeouts apply to the FFmpeg backend."""
    if source.startswith("usb:"):
        return cv2.VideoCapture(int(source[4:]))
    if source.startswith("synthetic:"):
        return SyntheticCapture(source)
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout_s * 1000),
    ]  # fmt: skip
    return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)


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
    """Reads one camera in its own thread; `latest()` hands out only the newest frame."""

    def __init__(
        self,
        camera: CameraSection,
        *,
        opener: Callable[..., Capture] = open_capture,
        seed: int | None = None,
    ) -> None:
        self.camera = camera
        self.stats = SourceStats()
        self._opener = opener
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._handed: int = -1
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
                self._cond.wait(remaining)
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
        src = self.camera.source
        if is_file_source(src) and not is_synthetic(src) and not Path(src).is_file():
            log.error("camera %s: video file %s not found", self.camera.id, src)
            return None
        try:
            url = self.camera.open_source()  # with its password, never logged
        except ConfigError as exc:
            log.error("camera %s: %s", self.camera.id, exc)
            return None
        cap = self._opener(
            url,
            open_timeout_s=self.camera.open_timeout_s,
            read_timeout_s=self.camera.read_timeout_s,
        )
        if not cap.isOpened():
            log.warning("camera %s: cannot open %s", self.camera.id, redact_url(src))
            cap.release()
            return None
        self.stats.connected = True
        log.info("camera %s: opened %s", self.camera.id, redact_url(src))
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

    def _read_loop(self, cap: Capture, gen: int, index: int) -> int:
        """Read until the stream breaks, the file ends or the thread is superseded."""
        pace = is_file_source(self.camera.source)
        period = 1.0 / (cap.get(cv2.CAP_PROP_FPS) or 25.0) if pace else 0.0
        next_due = time.monotonic()
        bad = 0
        while self._current(gen):
            ok, image = cap.read()
            if not ok and pace:
                if self.camera.loop and cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
                    continue
                self.stats.finished = True
                self.stats.connected = False
                with self._cond:
                    self._cond.notify_all()
                log.info("camera %s: end of file %s", self.camera.id, self.camera.source)
                return index
            if not ok or not valid_frame(image):
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
            if pace:  # a file plays at its own frame rate, like a live camera
                next_due += period
                delay = next_due - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_due = time.monotonic()
            self._publish(Frame(image, index, time.time(), time.monotonic()), gen)
            index += 1
        return index

    def _publish(self, frame: Frame, gen: int) -> None:
        with self._cond:
            if gen != self._generation:
                return
            self._latest = frame
            self._last_frame_mono = frame.mono_time
            self.stats.frames += 1
            self._cond.notify_all()
