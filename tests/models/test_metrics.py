import math

import numpy as np
import pytest

from models.metrics import average_precision, match, size_ignore


def test_ap_hand_checked():
    # 3 real boxes; ranked detections: TP, FP, TP -> envelope 1.0 to recall 1/3, 2/3 to 2/3
    ap = average_precision(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), 3)
    assert ap == pytest.approx(1 / 3 + (1 / 3) * (2 / 3))


@pytest.mark.parametrize(
    ("scores", "hits", "n", "expected"),
    [
        ([0.9, 0.8], [True, True], 2, 1.0),
        ([0.9, 0.8], [False, False], 2, 0.0),
        ([0.9, 0.8], [False, True], 1, 0.5),
        ([], [], 4, 0.0),
    ],
)
def test_ap_edge_cases(scores, hits, n, expected):
    got = average_precision(np.array(scores), np.array(hits, dtype=bool), n)
    assert got == pytest.approx(expected)


def test_ap_without_truth_is_nan():
    assert math.isnan(average_precision(np.array([0.5]), np.array([False]), 0))


def test_ap_ignores_detection_order():
    a = average_precision(np.array([0.7, 0.9, 0.8]), np.array([True, True, False]), 3)
    assert a == pytest.approx(1 / 3 + (1 / 3) * (2 / 3))


def test_match_duplicate_is_false_positive_and_ignored_box_is_neither():
    gt = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    ignore = np.array([False, True])
    det = np.array(
        [[0, 0, 10, 10], [1, 0, 10, 10], [50, 50, 60, 61], [100, 100, 110, 110]], np.float32
    )
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    hits, counted = match(det, scores, gt, ignore, iou_threshold=0.5)
    assert hits.tolist() == [True, False, False, False]
    assert counted.tolist() == [True, True, False, True]


def test_match_uses_score_order_not_input_order():
    gt = np.array([[0, 0, 10, 10]], np.float32)
    det = np.array([[0, 0, 10, 11], [0, 0, 10, 10]], np.float32)
    hits, _ = match(det, np.array([0.3, 0.9]), gt, np.array([False]), iou_threshold=0.5)
    assert hits.tolist() == [False, True]


def test_match_below_iou_threshold_is_false_positive():
    gt = np.array([[0, 0, 10, 10]], np.float32)
    det = np.array([[5, 0, 15, 10]], np.float32)  # IoU 1/3
    assert match(det, np.array([0.9]), gt, np.array([False]), iou_threshold=0.5)[0].tolist() == [
        False
    ]
    assert match(det, np.array([0.9]), gt, np.array([False]), iou_threshold=0.3)[0].tolist() == [
        True
    ]


def test_size_ignore_buckets():
    boxes = np.array([[0, 0, 10, 5], [0, 0, 16, 5], [0, 0, 40, 5]], np.float32)
    assert size_ignore(boxes, (16, 32)).tolist() == [True, False, True]
    assert size_ignore(boxes, None).tolist() == [False, False, False]
