"""A synthetic camera (`synthetic:` sources) for demos and tests where no video is at hand.

It draws a moving figure on a textured background at a fixed frame rate. It contains no faces,
so a detector finds nothing and the counts are zeros; every other part of the chain runs for real.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 360


def parse_options(source: str) -> dict[str, float]:
    """`synthetic:frames=300,fps=10` → {"frames": 300, "fps": 10}."""
    opts = {"frames": 300.0, "fps": 10.0}
    body = source.split(":", 1)[1] if ":" in source else ""
    for part in filter(None, body.split(",")):
        key, _, value = part.partition("=")
        if key not in opts:
            raise ValueError(f"synthetic source: unknown option {key!r} (frames, fps)")
        opts[key] = float(value)
    return opts


class SyntheticCapture:
    """Implements the part of cv2.VideoCapture the agent uses."""

    def __init__(self, source: str) -> None:
        opts = parse_options(source)
        self.frames, self.fps = int(opts["frames"]), opts["fps"]
        self.index = 0
        rng = np.random.default_rng(7)
        self.background = cv2.GaussianBlur(
            rng.integers(60, 120, (HEIGHT, WIDTH, 3), dtype=np.uint8), (0, 0), 3
        )

    def isOpened(self) -> bool:
        return True

    def read(self) -> tuple[bool, Any]:
        if not self.grab():
            return False, None
        return self.retrieve()

    def grab(self) -> bool:
        """Move to the next frame; drawing it waits for `retrieve`, as decoding would."""
        if self.index >= self.frames:
            return False
        self.index += 1
        return True

    def retrieve(self) -> tuple[bool, Any]:
        """Draw the frame last grabbed."""
        if self.index == 0:
            return False, None
        frame = self.background.copy()
        x = int(((self.index - 1) * 7) % (WIDTH - 60))
        cv2.rectangle(frame, (x, 120), (x + 50, 300), (200, 180, 160), -1)
        cv2.circle(frame, (x + 25, 100), 22, (150, 170, 210), -1)
        return True, frame

    def get(self, prop: int) -> float:
        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_POS_FRAMES:
            self.index = int(value)
            return True
        return False

    def release(self) -> None:
        return None
