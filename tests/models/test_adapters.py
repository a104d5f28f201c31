"""Each adapter on real images from ../shared (skipped with the reason where it is absent)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.adapters.base import above
from models.boxes import iou_matrix
from models.detections import MASK, NO_MASK, Detections
from models.detector import load_detector
from models.registry import MANIFEST_NAME, Registry
from tests.models.yolo_fixture import build_yolo_from_ssd

# maksssksksss0.jpg, boxes from its VOC file
TRUTH_BOXES = np.array([[79, 105, 109, 142], [185, 100, 226, 144], [325, 90, 360, 141]], np.float32)
TRUTH_LABELS = [NO_MASK, MASK, NO_MASK]


@pytest.fixture(scope="module")
def image(andrewmvd: Path) -> np.ndarray:
    img = cv2.imread(str(andrewmvd / "images" / "maksssksksss0.jpg"))
    assert img is not None
    return img


def assert_finds_truth(dets: Detections, *, extra: int = 0) -> None:
    """Every true face found once, with the right label, at IoU >= 0.5 (plus `extra` others)."""
    ious = iou_matrix(TRUTH_BOXES, dets.boxes)
    for i, label in enumerate(TRUTH_LABELS):
        j = int(np.argmax(ious[i]))
        assert ious[i, j] >= 0.5, f"face {i} missed: best IoU {ious[i, j]:.2f}"
        assert int(dets.labels[j]) == label, f"face {i} labelled {dets.labels[j]}"
    assert len(dets) == 3 + extra


@pytest.mark.parametrize(
    "name", ["aizoo_facemask_360", "aizoo_facemask_260", "ultraface_masked_rfb_640"]
)
def test_reference_detectors_on_real_image(shared: Path, image: np.ndarray, name: str):
    assert_finds_truth(load_detector(name).detect(image))


def test_boxes_are_in_original_pixels_after_resize(shared: Path, image: np.ndarray):
    det = load_detector("aizoo_facemask_360")
    small = det.detect(image)
    big = det.detect(cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR))
    np.testing.assert_allclose(
        big.boxes[np.argsort(big.boxes[:, 0])],
        2 * small.boxes[np.argsort(small.boxes[:, 0])],
        atol=6,
    )


def test_low_threshold_returns_more_sorted_by_score(shared: Path, image: np.ndarray):
    det = load_detector("ultraface_masked_rfb_640")
    low = det.detect(image, conf=0.05)
    assert len(low) >= len(det.detect(image))
    assert np.all(np.diff(low.scores) <= 1e-6) or det.spec.nms == "per_class"


def test_yolo_adapter_matches_ssd_on_same_weights(shared: Path, image: np.ndarray, tmp_path):
    reg = Registry()
    ssd = reg.resolve("aizoo_facemask_360")
    assert ssd.path is not None
    out = build_yolo_from_ssd(ssd.path, ssd.spec, tmp_path / "aizoo_yolo.onnx")
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    (tmp_path / "aizoo_yolo.toml").write_text(
        f"""[models.aizoo_as_yolo]
file = "aizoo_yolo.onnx"
sha256 = "{sha}"
adapter = "yolo"
input_width = 360
input_height = 360
labels = ["mask", "no_mask"]
nms = "class_agnostic"
nms_iou = 0.4
license = "MIT"
source = "test fixture: AIZOO 360 with in-graph decoding"
"""
    )
    yolo = load_detector(str(out))
    assert yolo.spec.adapter == "yolo"
    a, b = load_detector("aizoo_facemask_360").detect(image), yolo.detect(image)
    assert_finds_truth(b)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    assert a.labels.tolist() == b.labels.tolist()


def test_yolo_letterbox_from_manifest(shared: Path, image: np.ndarray, tmp_path: Path):
    """Letterboxing a non-square image must still map boxes back to the right place."""
    reg = Registry()
    ssd = reg.resolve("aizoo_facemask_360")
    assert ssd.path is not None
    out = build_yolo_from_ssd(ssd.path, ssd.spec, tmp_path / "lb.onnx")
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    (tmp_path / MANIFEST_NAME).write_text(
        f"""[models.lb]
file = "lb.onnx"
sha256 = "{sha}"
adapter = "yolo"
input_width = 360
input_height = 360
resize = "letterbox"
labels = ["mask", "no_mask"]
license = "MIT"
source = "test"
"""
    )
    det = load_detector("lb", registry=Registry([tmp_path]))
    assert_finds_truth(det.detect(image))


def test_two_stage_yunet_classifier(shared: Path, image: np.ndarray):
    dets = load_detector("yunet_maskcls").detect(image)
    # YuNet also finds a real but unannotated blurry face at about (465, 169, 490, 197).
    assert_finds_truth(dets, extra=1)
    assert np.all(np.diff(dets.scores) <= 0)


def test_component_is_not_a_detector(shared: Path):
    from models.registry import ModelError

    with pytest.raises(ModelError, match="component"):
        load_detector("yunet_s_dynamic")


@pytest.mark.parametrize("columns", [[2, 1], [1, 2], [0], [3, 0, 2], []])
def test_above_is_nonzero_in_its_order(columns: list[int]):
    """The per-column threshold gives exactly the pairs, in the order, of a 2-D nonzero (ties,
    rows passing in several columns, none passing)."""
    rng = np.random.default_rng(7)
    scores = rng.random((500, 4)).astype(np.float32)
    scores[10] = 0.9  # one row above in every column
    for conf in (0.0, 0.5, 0.97, 1.1):
        want = np.nonzero(scores[:, columns] >= conf)
        rows, cols = above(scores, columns, conf)
        assert np.array_equal(rows, want[0]) and np.array_equal(cols, want[1]), conf
