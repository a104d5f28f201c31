"""Draw detections on images (a local debugging aid; never used by the agent's data path)."""

from __future__ import annotations

import cv2
import numpy as np

from models.detections import LABEL_NAMES, Detections

COLOURS_BGR = {"mask": (60, 180, 75), "no_mask": (40, 40, 230)}


def draw(image_bgr: np.ndarray, dets: Detections) -> np.ndarray:
    """A copy of the image with labelled boxes: green for mask, red for no_mask."""
    out = image_bgr.copy()
    thickness = max(1, round(max(out.shape[:2]) / 500))
    for box, score, label in zip(dets.boxes, dets.scores, dets.labels, strict=True):
        name = LABEL_NAMES[int(label)]
        colour = COLOURS_BGR[name]
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        text = f"{name} {score:.2f}"
        cv2.putText(
            out,
            text,
            (x1, max(10, y1 - 3)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4 * thickness,
            colour,
            thickness,
            cv2.LINE_AA,
        )
    return out
