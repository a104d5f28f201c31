"""Technician-style labels from VOC ground truth: what a perfect labeller would have clicked.

A technician labels what the face under a box is. So each detection takes the class of the
ground-truth face it overlaps (IoU ≥ 0.5), whatever class the model gave it; matching is done
per predicted class, highest score first, so a second box of the same class on one face (a
double count for the agent) is `not_a_face`, while a mask box and a no_mask box on the same
face both carry the face's true class. Unmatched boxes are `not_a_face`; boxes on ignored faces
(incorrectly worn masks, `difficult`) are left out, as in `siaga eval`.

With `min_face_px` the set is the one the agent sees with that size limit: boxes smaller than it
(longest side, as agent/filters.py measures) are dropped, and faces smaller than it are ignored
(a box on one is left out; they do not count as missed).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from calibration.fit import Label
from models.boxes import iou_matrix
from models.detections import LABEL_NAMES, Detections
from models.voc import GroundTruth

MATCH_IOU = 0.5


def face_px(boxes: np.ndarray) -> np.ndarray:
    """Longest side of each xyxy box, the size agent/filters.py compares with min_face_px."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


def ignored(truth: GroundTruth, min_face_px: float = 0.0) -> np.ndarray:
    """Faces left out of scoring: ignored in the annotation or smaller than `min_face_px`."""
    return np.asarray(truth.ignore | (face_px(truth.boxes) < min_face_px))


def match_truth(
    dets: Detections,
    truth: GroundTruth,
    *,
    iou: float = MATCH_IOU,
    gt_ignore: np.ndarray | None = None,
) -> np.ndarray:
    """Per detection: the index of its ground-truth box, -1 if none, -2 if on an ignored box.

    One pass over all detections together (class-agnostic): each face is taken once.
    """
    out = np.full(len(dets), -1, dtype=np.int64)
    if len(dets) == 0 or len(truth.boxes) == 0:
        return out
    skip = truth.ignore if gt_ignore is None else gt_ignore
    ious = iou_matrix(dets.boxes, truth.boxes)
    taken = np.zeros(len(truth.boxes), dtype=bool)
    for i in np.argsort(-dets.scores, kind="stable"):
        j = int(np.argmax(ious[i]))
        if ious[i, j] < iou:
            continue
        if skip[j]:
            out[i] = -2
        elif not taken[j]:
            taken[j] = True
            out[i] = j
    return out


def match_per_class(
    dets: Detections, truth: GroundTruth, *, min_face_px: float = 0.0
) -> np.ndarray:
    """`match_truth` run separately on each predicted class (each face taken once per class)."""
    out = np.full(len(dets), -1, dtype=np.int64)
    skip = ignored(truth, min_face_px)
    for label in range(len(LABEL_NAMES)):
        rows = np.flatnonzero(dets.labels == label)
        if len(rows):
            out[rows] = match_truth(dets.select(dets.labels == label), truth, gt_ignore=skip)
    return out


def labels_for_image(
    dets: Detections, truth: GroundTruth, *, min_face_px: float = 0.0
) -> list[Label]:
    """The labels a perfect technician would give this image's detections."""
    big = face_px(dets.boxes) >= min_face_px
    dets = dets.select(big)
    matched = match_per_class(dets, truth, min_face_px=min_face_px)
    labels = []
    for k, j in enumerate(matched):
        if j == -2:
            continue
        verdict = "not_a_face" if j < 0 else LABEL_NAMES[int(truth.labels[j])]
        labels.append(Label(float(dets.scores[k]), LABEL_NAMES[int(dets.labels[k])], verdict))
    return labels


def labels_for(
    pairs: Iterable[tuple[Detections, GroundTruth]], *, min_face_px: float = 0.0
) -> list[Label]:
    """Labels over many images."""
    return [
        lab
        for dets, truth in pairs
        for lab in labels_for_image(dets, truth, min_face_px=min_face_px)
    ]


def truth_totals(truths: Iterable[GroundTruth], *, min_face_px: float = 0.0) -> dict[str, int]:
    """Faces per class that count (not ignored, not under `min_face_px`): the recall base."""
    totals = dict.fromkeys(LABEL_NAMES, 0)
    for t in truths:
        keep = ~ignored(t, min_face_px)
        for i, name in enumerate(LABEL_NAMES):
            totals[name] += int(np.count_nonzero((t.labels == i) & keep))
    return totals
