"""Local debug snapshots: off unless `[debug] save_frames = true`; faces are always blurred.

Frames never leave the box through this path; it only writes to a local folder, for a
technician checking what the camera sees.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from models.annotate import draw
from models.detections import Detections

log = logging.getLogger(__name__)


def blur_faces(image_bgr: np.ndarray, boxes: np.ndarray, *, grow: float = 0.25) -> np.ndarray:
    """A copy with each face box (grown by `grow`) pixelated beyond recognition."""
    out = image_bgr.copy()
    h, w = out.shape[:2]
    for x1, y1, x2, y2 in boxes:
        dx, dy = (x2 - x1) * grow, (y2 - y1) * grow
        xa, ya = max(0, int(x1 - dx)), max(0, int(y1 - dy))
        xb, yb = min(w, int(np.ceil(x2 + dx))), min(h, int(np.ceil(y2 + dy)))
        if xb <= xa or yb <= ya:
            continue
        roi = out[ya:yb, xa:xb]
        small = cv2.resize(roi, (max(1, (xb - xa) // 12), max(1, (yb - ya) // 12)),
                           interpolation=cv2.INTER_AREA)  # fmt: skip
        out[ya:yb, xa:xb] = cv2.resize(small, (xb - xa, yb - ya), interpolation=cv2.INTER_NEAREST)
    return out


def save_snapshot(
    directory: Path, camera_id: str, index: int, image: np.ndarray, dets: Detections
) -> Path:
    """Write one blurred, annotated frame; returns its path."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{camera_id}_{index:08d}.jpg"
    cv2.imwrite(str(path), draw(blur_faces(image, dets.boxes), dets))
    log.debug("debug snapshot %s", path)
    return path
