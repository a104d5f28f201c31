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
    """Faces found in one image: xyxy boxes in original-image pixels, scores, label ids.

    `probs` (N, 2), where the model family gives it: the model's probability of `mask` and of
    `no_mask` for each box (the two columns of a softmax, or the classifier's output). A score of
    0.6 means something else when the other class has 0.35 than when it has 0.01; the agent's
    judgement (agent/judge.py) uses the difference. None: the family gives only the winner's score.
    """

    boxes: np.ndarray = field(default_factory=_empty_boxes)
    scores: np.ndarray = field(default_factory=_empty_scores)
    labels: np.ndarray = field(default_factory=_empty_labels)
    probs: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.boxes.shape != (n, 4) or self.labels.shape != (n,):
            raise ValueError(
                f"inconsistent detections: boxes {self.boxes.shape}, "
                f"scores {self.scores.shape}, labels {self.labels.shape}"
            )
        if self.probs is not None and self.probs.shape != (n, 2):
            raise ValueError(
                f"inconsistent detections: probs {self.probs.shape}, expected {(n, 2)}"
            )

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, keep: np.ndarray) -> Detections:
        """Return the subset picked by a boolean mask or index array."""
        probs = None if self.probs is None else self.probs[keep]
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep], probs)

    def margins(self) -> np.ndarray:
        """(N,) how clearly one class wins, 0..1: |p_mask - p_no_mask| / (p_mask + p_no_mask).

        1.0 where the family gives no second class (nothing to weigh the winner against)."""
        if self.probs is None:
            return np.ones(len(self), dtype=np.float32)
        p = self.probs.astype(np.float64)
        total = p.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            m = np.abs(p[:, 0] - p[:, 1]) / total
        return np.where(total > 0, m, 0.0).astype(np.float32)

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
        probs = (
            np.concatenate([p.probs for p in parts]).astype(np.float32)
            if all(p.probs is not None for p in parts)
            else None
        )
        return Detections(
            np.concatenate([p.boxes for p in parts]).astype(np.float32),
            np.concatenate([p.scores for p in parts]).astype(np.float32),
            np.concatenate([p.labels for p in parts]).astype(np.int64),
            probs,
        )
