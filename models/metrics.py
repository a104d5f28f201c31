"""Detection metrics: VOC matching with ignored boxes, all-point AP, count error."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.boxes import iou_matrix


@dataclass
class MatchLog:
    """Scores and TP/FP outcomes of every non-ignored detection, plus the number of real boxes."""

    scores: list[np.ndarray] = field(default_factory=list)
    hits: list[np.ndarray] = field(default_factory=list)
    n_truth: int = 0

    def add(self, scores: np.ndarray, hits: np.ndarray, n_truth: int) -> None:
        """Record one image's outcome."""
        self.scores.append(scores)
        self.hits.append(hits)
        self.n_truth += n_truth

    def average_precision(self) -> float:
        """AP over everything recorded (NaN when there is no ground truth)."""
        if not self.scores:
            return average_precision(np.zeros(0), np.zeros(0, bool), self.n_truth)
        return average_precision(
            np.concatenate(self.scores), np.concatenate(self.hits), self.n_truth
        )


def match(
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    gt_boxes: np.ndarray,
    gt_ignore: np.ndarray,
    *,
    iou_threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """VOC matching in score order. Returns (hit flags, counted flags) per detection.

    A detection whose best-overlapping box is ignored is not counted; a second detection
    on an already-matched box is a false positive.
    """
    n = len(det_scores)
    hits = np.zeros(n, dtype=bool)
    counted = np.ones(n, dtype=bool)
    if n == 0 or len(gt_boxes) == 0:
        return hits, counted
    order = np.argsort(-det_scores, kind="stable")
    ious = iou_matrix(det_boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for i in order:
        j = int(np.argmax(ious[i]))
        if ious[i, j] < iou_threshold:
            continue
        if gt_ignore[j]:
            counted[i] = False
        elif not taken[j]:
            taken[j] = True
            hits[i] = True
    return hits, counted


def average_precision(scores: np.ndarray, hits: np.ndarray, n_truth: int) -> float:
    """All-point interpolated AP (VOC 2010+): area under the precision envelope."""
    if n_truth == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order])
    fp = np.cumsum(~hits[order])
    recall = tp / n_truth
    precision = tp / np.maximum(tp + fp, 1e-12)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def size_ignore(boxes: np.ndarray, size_range: tuple[float, float] | None) -> np.ndarray:
    """True for boxes whose width falls outside [lo, hi) (for per-face-size AP)."""
    if size_range is None:
        return np.zeros(len(boxes), dtype=bool)
    width = boxes[:, 2] - boxes[:, 0]
    return (width < size_range[0]) | (width >= size_range[1])
