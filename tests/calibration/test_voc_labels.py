"""Perfect-technician labels from VOC ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.voc_labels import labels_for_image, match_truth, truth_totals
from models.detections import MASK, NO_MASK, Detections
from models.voc import GroundTruth

TRUTH = GroundTruth(
    image="x.jpg", width=200, height=100,
    boxes=np.array([[0, 0, 20, 20], [50, 0, 70, 20], [100, 0, 120, 20]], np.float32),
    labels=np.array([MASK, NO_MASK, -1]), ignore=np.array([False, False, True]),
)  # fmt: skip


def dets(*rows: tuple[list[float], float, int]) -> Detections:
    return Detections(
        np.array([r[0] for r in rows], np.float32).reshape(-1, 4),
        np.array([r[1] for r in rows], np.float32),
        np.array([r[2] for r in rows], np.int64),
    )


@pytest.mark.parametrize(
    ("detections", "expected"),
    [
        (dets(([0, 0, 20, 20], 0.9, MASK)), [(0.9, "mask", "mask")]),
        (dets(([1, 1, 21, 21], 0.8, MASK)), [(0.8, "mask", "mask")]),
        # The model called a bare face masked: the human says no_mask.
        (dets(([50, 0, 70, 20], 0.7, MASK)), [(0.7, "mask", "no_mask")]),
        (dets(([150, 50, 170, 70], 0.6, NO_MASK)), [(0.6, "no_mask", "not_a_face")]),
        # On an ignored (incorrectly worn) box: left out, as in `siaga eval`.
        (dets(([100, 0, 120, 20], 0.9, MASK)), []),
        # A second detection on a taken box is a double count, so not a face.
        (
            dets(([0, 0, 20, 20], 0.9, MASK), ([0, 0, 19, 19], 0.5, MASK)),
            [(0.9, "mask", "mask"), (0.5, "mask", "not_a_face")],
        ),
        # A mask box and a no_mask box on one bare face: the technician says no_mask to both
        # (the agent would count the face once as each class).
        (
            dets(([50, 0, 70, 20], 0.9, MASK), ([50, 0, 70, 21], 0.6, NO_MASK)),
            [(0.9, "mask", "no_mask"), (0.6, "no_mask", "no_mask")],
        ),
    ],
)
def test_labels_for_image(detections: Detections, expected: list) -> None:
    got = [
        (round(lab.score, 2), lab.predicted, lab.truth)
        for lab in labels_for_image(detections, TRUTH)
    ]
    assert got == expected


def test_match_truth_codes_and_totals() -> None:
    d = dets(([100, 0, 120, 20], 0.9, MASK), ([300, 0, 320, 20], 0.5, MASK))
    assert match_truth(d, TRUTH).tolist() == [-2, -1]
    assert truth_totals([TRUTH, TRUTH]) == {"mask": 2, "no_mask": 2}


def test_min_face_px_drops_small_boxes_and_ignores_small_faces() -> None:
    small_face = GroundTruth(
        image="y.jpg", width=200, height=100,
        boxes=np.array([[0, 0, 20, 20], [50, 0, 60, 10]], np.float32),
        labels=np.array([MASK, NO_MASK]), ignore=np.array([False, False]),
    )  # fmt: skip
    d = dets(
        ([0, 0, 20, 20], 0.9, MASK),  # a 20 px face: kept
        ([49, 0, 61, 12], 0.8, NO_MASK),  # a 12 px box: dropped, as the agent drops it
        ([49, 0, 61, 16], 0.7, NO_MASK),  # 16 px box on a 10 px face: not judged
        ([150, 0, 170, 20], 0.6, NO_MASK),  # 20 px box on nothing: not a face
    )
    got = [(lab.score, lab.truth) for lab in labels_for_image(d, small_face, min_face_px=16)]
    assert got == [(pytest.approx(0.9), "mask"), (pytest.approx(0.6), "not_a_face")]
    assert truth_totals([small_face], min_face_px=16) == {"mask": 1, "no_mask": 0}
    assert truth_totals([small_face]) == {"mask": 1, "no_mask": 1}
