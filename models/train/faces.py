"""Training-time helper: find the face inside a face crop with YuNet (a reference model)."""

from __future__ import annotations

import cv2
import numpy as np

from models.adapters import YuNetFaces
from models.registry import ModelError, Registry
from models.runtime import RuntimeConfig, make_session
from models.train.data import FaceFinder

PAD_SHARE = 0.25  # YuNet misses faces that touch the image border: pad the crop first


def yunet_finder(name: str = "yunet_s_dynamic", threshold: float = 0.5) -> FaceFinder | None:
    """A FaceFinder backed by YuNet from the registry, or None (with a note) when unavailable."""
    try:
        resolved = Registry().resolve(name)
    except ModelError as exc:
        print(f"note: no face finder for crops ({exc}); whole crops are used as face boxes")
        return None
    if resolved.path is None:
        return None
    faces = YuNetFaces(resolved.spec, make_session(resolved.path, RuntimeConfig()))

    def find(image: np.ndarray) -> tuple[float, float, float, float] | None:
        h, w = image.shape[:2]
        pad = int(PAD_SHARE * max(h, w))
        padded = cv2.copyMakeBorder(
            image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(114, 114, 114)
        )
        boxes, _ = faces.faces(padded, threshold)
        if len(boxes) == 0:
            return None
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        x1, y1, x2, y2 = (boxes[int(np.argmax(areas))] - pad).tolist()
        return (x1, y1, x2, y2)

    return find
