"""Technician-style labels from VOC ground truth: what a perfect labeller would have clicked.

Each detection is matched to the ground truth (class-agnostic, IoU ≥ 0.5, highest score
first); a matched detection takes the box's true class, an unmatched one (or a second one on an
already-taken box) is `not_a_face`, and one on an ignored box is left out, as in `siaga eval`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from calibration.fit import Label
from models.boxes import iou_matrix
from models.detections import LABEL_NAMES, Detections
from models.voc import GroundTruth

MATCH_IOU = 0.5


def match_truth(dets: Detections, truth: GroundTruth, *, iou: float = MATCH_IOU) -> np.ndarray:
    """Per detection: the index of its ground-truth box, -1 if none, -2 if on an ignored box."""
    out = np.full(len(dets), -1, dtype=np.int64)
    if len(dets) == 0 or len(truth.boxes) == 0:
        return out
    ious = iou_matrix(dets.boxes, truth.boxes)
    taken = np.zeros(len(truth.boxes), dtype=bool)
    for i in np.argsort(-dets.scores, kind="stable"):
        j = int(np.argmax(ious[i]))
        if ious[i, j] < iou:
            continue
        if truth.ignore[j]:
            out[i] = -2
        elif not taken[j]:
            taken[j] = True
            out[i] = j
    return out


def labels_for_image(dets: Detections, truth: GroundTruth) -> list[Label]:
    """The labels a perfect technician would give this image's detections."""
    matched = match_truth(dets, truth)
    labels = []
    for k, j in enumerate(matched):
        if j == -2:
            continue
        verdict = "not_a_face" if j < 0 else LABEL_NAMES[int(truth.labels[j])]
        labels.append(Label(float(dets.scores[k]), LABEL_NAMES[int(dets.labels[k])], verdict))
    return labels


def labels_for(pairs: Iterable[tuple[Detections, GroundTruth]]) -> list[Label]:
    """Labels over many images."""
    return [lab for dets, truth in pairs for lab in labels_for_image(dets, truth)]


def truth_totals(truths: Iterable[GroundTruth]) -> dict[str, int]:
    """Non-ignored ground-truth faces per class (the true recall denominator)."""
    totals = dict.fromkeys(LABEL_NAMES, 0)
    for t in truths:
        for i, name in enumerate(LABEL_NAMES):
            totals[name] += t.count(i)
    return totals
