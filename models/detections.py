"""The one detections type that flows through every stage of Siaga."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np

MASK: Final = 0
NO_MASK: Final = 1
LABEL_NAMES: Final = ("mask", "no_mask")


def label_id(name: str) -> int:
    """Map a label name (`mask` / `no_mask`) to its integer id."""
    try:
        return LABEL_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown label {name!r}; expected one of {LABEL_NAMES}") from None


def _empty_boxes() -> np.ndarray:
    return np.zeros((0, 4), dtype=np.float32)


def _empty_scores() -> np.ndarray:
    return np.zeros((0,), dtype=np.float32)


def _empty_labels() -> np.ndarray:
    return np.zeros((0,), dtype=np.int64)


@dataclass(frozen=True)
class Detections:
    """Faces found in one image: xyxy boxes in original-image pixels, scores, label ids."""

    boxes: np.ndarray = field(default_factory=_empty_boxes)
    scores: np.ndarray = field(default_factory=_empty_scores)
    labels: np.ndarray = field(default_factory=_empty_labels)

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.boxes.shape != (n, 4) or self.labels.shape != (n,):
            raise ValueError(
                f"inconsistent detections: boxes {self.boxes.shape}, "
                f"scores {self.scores.shape}, labels {self.labels.shape}"
            )

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, keep: np.ndarray) -> Detections:
        """Return the subset picked by a boolean mask or index array."""
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep])

    def above(self, threshold: float) -> Detections:
        """Keep detections scoring at least `threshold`."""
        return self.select(self.scores >= threshold)

    def count(self, label: int) -> int:
        """Number of detections with the given label id."""
        return int(np.count_nonzero(self.labels == label))

    def to_records(self) -> list[dict[str, object]]:
        """Plain JSON-ready records: label name, score, box (rounded to 0.1 px)."""
        return [
            {
                "label": LABEL_NAMES[int(lab)],
                "score": round(float(s), 4),
                "box": [round(float(v), 1) for v in box],
            }
            for box, s, lab in zip(self.boxes, self.scores, self.labels, strict=True)
        ]

    @staticmethod
    def concat(parts: list[Detections]) -> Detections:
        """Join several detection sets into one."""
        if not parts:
            return Detections()
        return Detections(
            np.concatenate([p.boxes for p in parts]).astype(np.float32),
            np.concatenate([p.scores for p in parts]).astype(np.float32),
            np.concatenate([p.labels for p in parts]).astype(np.int64),
        )
