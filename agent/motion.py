"""Motion gate: skip inference on frames where nothing moved since the last inferred frame."""

from __future__ import annotations

import cv2
import numpy as np

from agent.config import SamplingSection

# 160 px wide is enough to see a walking person (a 720p frame shrinks 8x).
DEFAULT_WIDTH_PX = 160
# Grey-level change (0..255, after blur) that marks a pixel as changed: above sensor and
# compression noise, below a person against a background.
DEFAULT_PIXEL_DELTA = 25


def thumbnail(frame_bgr: np.ndarray, width_px: int = DEFAULT_WIDTH_PX) -> np.ndarray:
    """A small blurred greyscale copy of a frame for cheap change detection."""
    h, w = frame_bgr.shape[:2]
    height_px = max(1, round(h * width_px / w))
    small = frame_bgr
    if w > 2 * width_px:
        # INTER_AREA straight from 720p costs ~1 ms; a bilinear step to twice the target
        # (each output pixel averages 2x2) then INTER_AREA gives the same thumbnail in ~0.2 ms.
        small = cv2.resize(small, (2 * width_px, 2 * height_px), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(small, (width_px, height_px), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    # The blur removes block noise of compressed streams that would read as motion.
    return cv2.GaussianBlur(grey, (5, 5), 0)


def changed_fraction(a: np.ndarray, b: np.ndarray, pixel_delta: int = DEFAULT_PIXEL_DELTA) -> float:
    """Fraction of pixels whose grey level differs by more than `pixel_delta`."""
    diff = cv2.absdiff(a, b)
    _, changed = cv2.threshold(diff, pixel_delta, 255, cv2.THRESH_BINARY)
    return cv2.countNonZero(changed) / changed.size


class MotionGate:
    """Says whether a frame is worth inferring: motion, the first frame, or a keep-alive."""

    def __init__(
        self,
        threshold: float,
        keepalive_s: float,
        *,
        enabled: bool = True,
        width_px: int = DEFAULT_WIDTH_PX,
        pixel_delta: int = DEFAULT_PIXEL_DELTA,
    ) -> None:
        self.threshold = threshold
        self.keepalive_s = keepalive_s
        self.enabled = enabled
        self.width_px = width_px
        self.pixel_delta = pixel_delta
        self.last_fraction = 0.0  # for health / debugging: the last measured change
        self._reference: np.ndarray | None = None
        self._last_pass_t: float | None = None

    @classmethod
    def from_config(cls, sampling: SamplingSection) -> MotionGate:
        """A gate set up from the agent's [sampling] section."""
        return cls(
            sampling.motion_threshold,
            sampling.motion_keepalive_s,
            enabled=sampling.motion_gate,
        )

    def reset(self) -> None:
        """Forget the reference frame (after a reconnect): the next frame passes."""
        self._reference = None
        self._last_pass_t = None

    def check(self, frame_bgr: np.ndarray, t: float) -> bool:
        """True when the frame should be inferred; `t` is a monotonic time in seconds."""
        if not self.enabled:
            return True
        thumb = thumbnail(frame_bgr, self.width_px)
        ref = self._reference
        if ref is None or ref.shape != thumb.shape:  # first frame, or the stream changed size
            self.last_fraction = 1.0
            return self._pass(thumb, t)
        self.last_fraction = changed_fraction(ref, thumb, self.pixel_delta)
        if self.last_fraction > self.threshold or self._keepalive_due(t):
            return self._pass(thumb, t)
        return False

    def _keepalive_due(self, t: float) -> bool:
        last = self._last_pass_t
        # A clock that went backwards is treated as "due": one extra inference is harmless.
        return last is None or t < last or t - last >= self.keepalive_s

    def _pass(self, thumb: np.ndarray, t: float) -> bool:
        # The reference is the last *inferred* frame, not the previous one: slow movers
        # accumulate change until they cross the threshold instead of never tripping it.
        self._reference = thumb
        self._last_pass_t = t
        return True
