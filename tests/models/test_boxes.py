import numpy as np
import pytest

from models.boxes import batched_nms, cxcywh_to_xyxy, iou_matrix, nms


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [10, 10, 20, 20], 0.0),
        ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),
    ],
)
def test_iou_hand_checked(a, b, expected):
    got = iou_matrix(np.array([a], np.float32), np.array([b], np.float32))
    assert got.shape == (1, 1)
    assert got[0, 0] == pytest.approx(expected, abs=1e-6)


def test_iou_empty_shapes():
    assert iou_matrix(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)


def test_nms_keeps_best_and_disjoint():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.8, 0.9, 0.5, 0.7], np.float32)
    keep = nms(boxes, scores, 0.5)
    # box 1 (0.9) suppresses 0 (IoU 0.82) and 3 (IoU 0.74); box 2 is disjoint
    assert keep.tolist() == [1, 2]


def test_nms_threshold_is_strict_above():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)  # IoU = 1/3
    scores = np.array([0.9, 0.8], np.float32)
    assert nms(boxes, scores, 0.34).tolist() == [0, 1]
    assert nms(boxes, scores, 0.33).tolist() == [0]


def test_batched_nms_keeps_overlapping_boxes_of_other_class():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    labels = np.array([0, 1, 0])
    assert sorted(batched_nms(boxes, scores, labels, 0.5).tolist()) == [0, 1]


def test_cxcywh_to_xyxy():
    got = cxcywh_to_xyxy(np.array([[10, 20, 4, 6]], np.float32))
    assert got.tolist() == [[8, 17, 12, 23]]
