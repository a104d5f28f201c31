"""Per-class threshold fitting from a technician's labels (pure: plain values in and out).

Each label is one detection the model made at a low floor (score, predicted class) with the
human's verdict: mask, no_mask or not_a_face. For each predicted class the fit picks the lowest
threshold that reaches a target precision (the most faces counted at that precision), or the
threshold with the best F1. Recall here is over the faces the technician labelled (faces the
model never found at the floor cannot be labelled), unless the caller passes the true total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

CLASSES: Final = ("mask", "no_mask")
VERDICTS: Final = ("mask", "no_mask", "not_a_face")
DEFAULT_TARGET_PRECISION: Final = 0.9
# Below this many labelled detections of a class, a fitted threshold is mostly noise.
MIN_LABELS_PER_CLASS: Final = 30
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
    target_met: bool

    def as_dict(self) -> dict[str, object]:
        """JSON-ready figures, rounded."""
        return {
            "threshold": round(self.threshold, 4),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "labels_used": self.labels_used,
            "positives": self.positives,
            "target_met": self.target_met,
        }


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


def f1_standard_error(f1: float, positives: int) -> float:
    """Binomial standard error of an F1 estimated on `positives` true faces."""
    return float(np.sqrt(max(f1 * (1 - f1), 0.0) / max(positives, 1)))


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
    if mode == "precision":
        ok = cut & (precision >= target_precision)
        # The deepest cut meeting the target keeps the most faces at that precision; when no
        # cut meets it, fall back to the best F1 and say so (target_met=False).
        i = int(np.flatnonzero(ok)[-1]) if ok.any() else int(np.argmax(np.where(cut, f1, -1.0)))
        met = bool(ok.any())
    else:
        # One-standard-error rule: on a few dozen positives the exact F1 argmax is noise, so
        # take the deepest cut (most faces counted) whose F1 is within one SE of the best.
        best = float(np.max(np.where(cut, f1, -1.0)))
        i = int(np.flatnonzero(cut & (f1 >= best - f1_standard_error(best, positives)))[-1])
        met = bool(precision[i] >= target_precision)
    return ClassFit(
        label=cls,
        threshold=float(scores[i]),
        precision=float(precision[i]),
        recall=float(recall[i]),
        f1=float(f1[i]),
        labels_used=len(scores),
        positives=positives,
        target_met=met,
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
