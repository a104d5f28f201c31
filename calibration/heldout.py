"""What the agent would count on annotated images: per class, kept, right and real faces.

The agent's own FaceFilter (agent/filters.py) applies the per-class thresholds and the face-size
limits to detections made at a low floor (the same boxes the agent gets when it detects at its
lowest class threshold: NMS only ever suppresses a box by a higher-scoring one). Each kept box is
then judged as a counted face: right when it is the first box of its class on a real face of
that class (IoU ≥ 0.5), wrong otherwise (another class, no face, a double count); boxes on
ignored faces are not judged. Recall is over every face that counts, found or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from agent.filters import FaceFilter
from calibration.fit import CLASSES, f1_of
from calibration.voc_labels import match_per_class, truth_totals
from models.detections import Detections, label_id
from models.voc import GroundTruth

Pair = tuple[Detections, GroundTruth]


@dataclass(frozen=True)
class Counted:
    """One class's counting outcome: faces counted as it, counted right, and real ones."""

    kept: int
    right: int
    truth: int

    @property
    def precision(self) -> float:
        """Right among counted; 1 when nothing was counted."""
        return self.right / self.kept if self.kept else 1.0

    @property
    def recall(self) -> float:
        """Right among the real faces of the class."""
        return self.right / self.truth if self.truth else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        return f1_of(self.precision, self.recall)

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready figures."""
        return {
            "kept": self.kept, "right": self.right, "truth": self.truth,
            "precision": round(self.precision, 4), "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }  # fmt: skip


def agent_counts(
    pairs: Iterable[Pair], thresholds: Mapping[str, float], *, min_face_px: float = 1.0
) -> dict[str, Counted]:
    """Per class, what the agent with these thresholds and size limit counts on `pairs`."""
    face_filter = FaceFilter(min_face_px=min_face_px, thresholds=thresholds)
    kept = dict.fromkeys(CLASSES, 0)
    right = dict.fromkeys(CLASSES, 0)
    truths = []
    for dets, truth in pairs:
        truths.append(truth)
        counted = face_filter.apply(dets, truth.width, truth.height)
        matched = match_per_class(counted, truth, min_face_px=min_face_px)
        for cls in CLASSES:
            mine = counted.labels == label_id(cls)
            judged = mine & (matched != -2)
            kept[cls] += int(np.count_nonzero(judged))
            hit = judged & (matched >= 0)
            right[cls] += int(
                np.count_nonzero(truth.labels[matched[hit]] == label_id(cls)) if hit.any() else 0
            )
    totals = truth_totals(truths, min_face_px=min_face_px)
    return {c: Counted(kept[c], right[c], totals[c]) for c in CLASSES}
