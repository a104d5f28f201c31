"""Per-class threshold fitting from a technician's labels (pure: plain values in and out).

Each label is one detection the model made at a low floor (score, predicted class) with the
human's verdict on the face it marks: mask, no_mask or not_a_face. The agent keeps a detection
of class c when its score reaches c's threshold (agent/filters.py), independently of the other
class, so each class is fitted on its own detections:

- precision mode (default): among the thresholds whose precision on the labels reaches the
  target, the one with the best F1 (ties: the lower, which counts more faces). That lowers the
  threshold below the model default when the default is stricter than the target needs and
  the recall gained outweighs the precision given up, and raises it when the default is too
  loose. When no threshold reaches the target, the fit says so (target_met False), keeps the
  best-F1 threshold and reports the best precision the labels allow (reachable_precision).
- f1 mode: the threshold with the best F1 (ties: the lower).

Precision of class c = labelled c among the detections kept as c; recall = kept-and-labelled c
over the faces labelled c (faces the model never found at the floor cannot be labelled, so
this recall is an upper bound unless the caller passes the true total). Every figure comes with
how many labels it rests on and a Wilson 95% interval for the precision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

CLASSES: Final = ("mask", "no_mask")
VERDICTS: Final = ("mask", "no_mask", "not_a_face")
DEFAULT_TARGET_PRECISION: Final = 0.9
# Below this many labelled detections of a class, a fitted threshold is mostly noise.
MIN_LABELS_PER_CLASS: Final = 30
# reachable_precision is the best precision over thresholds keeping at least this many.
MIN_SUPPORT: Final = 10
# Two-sided 95% normal quantile for the Wilson interval.
Z95: Final = 1.959964
Mode = Literal["precision", "f1"]


class NotEnoughLabels(ValueError):
    """Too few labels to fit; the message says how many more of which class are needed."""


@dataclass(frozen=True)
class Label:
    """One labelled detection: its score, what the model said, and what the human said."""

    score: float
    predicted: str
    truth: str

    def __post_init__(self) -> None:
        if self.predicted not in CLASSES:
            raise ValueError(f"predicted must be one of {CLASSES}, got {self.predicted!r}")
        if self.truth not in VERDICTS:
            raise ValueError(f"truth must be one of {VERDICTS}, got {self.truth!r}")


def wilson_interval(hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion hits/n; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class ClassFit:
    """The fitted threshold of one class and what to expect from it."""

    label: str
    threshold: float
    precision: float
    recall: float
    f1: float
    labels_used: int
    positives: int
    kept: int
    target_met: bool
    reachable_precision: float
    target_precision: float = DEFAULT_TARGET_PRECISION

    @property
    def precision_interval(self) -> tuple[float, float]:
        """Wilson 95% interval of the precision, from the `kept` labelled detections."""
        return wilson_interval(round(self.precision * self.kept), self.kept)

    @property
    def confident(self) -> bool:
        """The target is met with 95% confidence (the interval's low end reaches it)."""
        return self.target_met and self.precision_interval[0] >= self.target_precision

    def as_dict(self) -> dict[str, object]:
        """JSON-ready figures, rounded."""
        lo, hi = self.precision_interval
        return {
            "threshold": round(self.threshold, 4),
            "precision": round(self.precision, 4),
            "precision_95": [round(lo, 4), round(hi, 4)],
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "labels_used": self.labels_used,
            "positives": self.positives,
            "kept": self.kept,
            "target_met": self.target_met,
            "confident": self.confident,
            "reachable_precision": round(self.reachable_precision, 4),
        }

    def describe(self) -> str:
        """One line for a technician."""
        lo, hi = self.precision_interval
        line = (
            f"{self.label}: threshold {self.threshold:.2f}, expected precision "
            f"{self.precision:.2f} (95% {lo:.2f}-{hi:.2f}), recall {self.recall:.2f} of "
            f"labelled faces, from {self.labels_used} labels ({self.positives} {self.label})"
        )
        if not self.target_met:
            line += (
                f"  (target precision {self.target_precision:.2f} NOT reachable on these "
                f"labels: best {self.reachable_precision:.2f}; threshold set for best F1)"
            )
        elif not self.confident:
            line += (
                f"  (target {self.target_precision:.2f} met on these labels but not with 95% "
                f"confidence: label more {self.label} faces)"
            )
        return line


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of one class at one threshold."""

    precision: float
    recall: float
    f1: float
    kept: int


def f1_of(precision: float, recall: float) -> float:
    """Harmonic mean; 0 when both are 0."""
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _class_arrays(labels: Sequence[Label], cls: str) -> tuple[np.ndarray, np.ndarray]:
    """Scores of detections predicted `cls` and whether each is truly `cls`, by score desc."""
    mine = [lab for lab in labels if lab.predicted == cls]
    scores = np.array([lab.score for lab in mine], dtype=np.float64)
    hits = np.array([lab.truth == cls for lab in mine], dtype=bool)
    order = np.argsort(-scores, kind="stable")
    return scores[order], hits[order]


def n_truth(labels: Sequence[Label], cls: str) -> int:
    """Labelled faces that truly are `cls`, whatever the model called them."""
    return sum(1 for lab in labels if lab.truth == cls)


def score_at(
    labels: Sequence[Label], cls: str, threshold: float, *, total: int | None = None
) -> Scores:
    """Precision/recall/F1 of `cls` kept at `threshold`; recall over `total` faces if given."""
    scores, hits = _class_arrays(labels, cls)
    keep = scores >= threshold
    tp = int(np.count_nonzero(hits & keep))
    kept = int(np.count_nonzero(keep))
    denom = n_truth(labels, cls) if total is None else total
    precision = tp / kept if kept else 1.0
    recall = tp / denom if denom else 0.0
    return Scores(precision, recall, f1_of(precision, recall), kept)


def check_enough(labels: Sequence[Label], *, min_per_class: int = MIN_LABELS_PER_CLASS) -> None:
    """Raise NotEnoughLabels naming each short class and how many more labels it needs."""
    short = []
    for cls in CLASSES:
        n = sum(1 for lab in labels if lab.predicted == cls)
        if n < min_per_class:
            short.append(f"{cls}: {n} labelled, need {min_per_class} ({min_per_class - n} more)")
    if short:
        raise NotEnoughLabels("too few labels to fit thresholds: " + "; ".join(short))


def _best(values: np.ndarray, allowed: np.ndarray) -> int:
    """Index of the largest value among `allowed`; ties go to the deepest (lowest threshold)."""
    masked = np.where(allowed, values, -np.inf)
    return int(np.flatnonzero(masked == masked.max())[-1])


def fit_class(
    labels: Sequence[Label],
    cls: str,
    *,
    mode: Mode = "precision",
    target_precision: float = DEFAULT_TARGET_PRECISION,
) -> ClassFit:
    """Fit one class's threshold (see the module docstring for the rule)."""
    scores, hits = _class_arrays(labels, cls)
    if len(scores) == 0:
        raise NotEnoughLabels(f"{cls}: no labelled detections")
    tp = np.cumsum(hits)
    kept = np.arange(1, len(scores) + 1)
    positives = n_truth(labels, cls)
    precision = tp / kept
    recall = tp / max(positives, 1)
    f1 = np.where(
        precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0
    )
    # Only cut between distinct scores: a threshold keeps every detection scoring at least it.
    cut = np.r_[scores[1:] != scores[:-1], True]
    ok = cut & (precision >= target_precision - 1e-12)
    supported = cut & (kept >= min(MIN_SUPPORT, len(scores)))
    reachable = float(np.max(np.where(supported, precision, 0.0)))
    met = bool(ok.any())
    i = _best(f1, ok) if mode == "precision" and met else _best(f1, cut)
    return ClassFit(
        label=cls,
        threshold=float(scores[i]),
        precision=float(precision[i]),
        recall=float(recall[i]),
        f1=float(f1[i]),
        labels_used=len(scores),
        positives=positives,
        kept=int(kept[i]),
        target_met=bool(precision[i] >= target_precision - 1e-12),
        reachable_precision=max(reachable, float(precision[i])),
        target_precision=target_precision,
    )


def fit_thresholds(
    labels: Sequence[Label],
    *,
    mode: Mode = "precision",
    target_precision: float = DEFAULT_TARGET_PRECISION,
    min_per_class: int = MIN_LABELS_PER_CLASS,
) -> dict[str, ClassFit]:
    """Per-class fits for mask and no_mask; NotEnoughLabels when a class is short."""
    if not 0.0 < target_precision <= 1.0:
        raise ValueError(f"target precision must be in (0, 1], got {target_precision}")
    check_enough(labels, min_per_class=min_per_class)
    return {
        cls: fit_class(labels, cls, mode=mode, target_precision=target_precision) for cls in CLASSES
    }


def evaluate(
    labels: Sequence[Label],
    thresholds: Mapping[str, float],
    *,
    totals: Mapping[str, int] | None = None,
) -> dict[str, Scores]:
    """Scores of each class at the given thresholds (e.g. on a held-out half)."""
    return {
        cls: score_at(labels, cls, thresholds[cls], total=None if totals is None else totals[cls])
        for cls in CLASSES
    }


def confusion_at(labels: Sequence[Label], thresholds: Mapping[str, float]) -> dict[str, Any] | None:
    """The detector's confusion at `thresholds` as counts (siaga.wire.DetectorConfusion's shape).

    Per true class (mask, no_mask, not_a_face): the labelled detections kept as masked, kept as
    unmasked, or dropped below their predicted class's threshold ("missed"). Faces the model
    never found at the labelling floor were never labelled, so "missed" is a lower bound, as
    recall above is an upper bound; central's correction rests on these counts and on how many
    there are (central/uncertainty/correction.py). None when either face class has no label:
    with no masked (or no unmasked) face seen, the detector's errors on it are unknown.
    """
    out = {t: {"masked": 0, "unmasked": 0, "missed": 0} for t in VERDICTS}
    for lab in labels:
        kept = lab.score >= thresholds[lab.predicted]
        call = ("masked" if lab.predicted == "mask" else "unmasked") if kept else "missed"
        out[lab.truth][call] += 1
    if any(sum(out[c].values()) == 0 for c in CLASSES):
        return None
    return out
