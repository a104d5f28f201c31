import numpy as np
import pytest

from agent.config import CameraSection
from agent.filters import FaceFilter, points_in_polygon
from models.detections import MASK, NO_MASK, Detections

W, H = 200, 100  # frame size: zone (0.25..0.75) is x 50..150, y 25..75 in pixels
SQUARE = [(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)]
LEFT_HALF = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
# An L: the square minus its top-right quarter (x 100..150, y 25..50 in pixels).
L_SHAPE = [(0.25, 0.25), (0.5, 0.25), (0.5, 0.5), (0.75, 0.5), (0.75, 0.75), (0.25, 0.75)]


def face_at(cx: float, cy: float, size: float = 20.0, score: float = 0.9, label: int = MASK):
    h = size / 2
    return Detections(
        np.array([[cx - h, cy - h, cx + h, cy + h]], np.float32),
        np.array([score], np.float32),
        np.array([label], np.int64),
    )


def kept(filt: FaceFilter, dets: Detections) -> bool:
    return len(filt.apply(dets, W, H)) == 1


@pytest.mark.parametrize(
    ("include", "exclude", "centre", "expected"),
    [
        pytest.param([], [], (5, 5), True, id="no zones: everything counts"),
        pytest.param([SQUARE], [], (100, 50), True, id="include: inside"),
        pytest.param([SQUARE], [], (10, 10), False, id="include: outside"),
        pytest.param([SQUARE], [], (50, 50), True, id="include: on left edge"),
        pytest.param([SQUARE], [], (100, 75), True, id="include: on bottom edge"),
        pytest.param([SQUARE], [], (150, 75), True, id="include: on a vertex"),
        pytest.param([SQUARE], [], (150.5, 50), False, id="include: just outside right edge"),
        pytest.param([], [SQUARE], (100, 50), False, id="exclude: inside"),
        pytest.param([], [SQUARE], (50, 50), False, id="exclude: on edge (boundary is zone)"),
        pytest.param([], [SQUARE], (10, 10), True, id="exclude: outside"),
        pytest.param([SQUARE, LEFT_HALF], [], (10, 10), True, id="include: in second polygon"),
        pytest.param([LEFT_HALF], [SQUARE], (70, 50), False, id="included, then excluded"),
        pytest.param([LEFT_HALF], [SQUARE], (20, 50), True, id="included, not excluded"),
        pytest.param([L_SHAPE], [], (125, 35), False, id="non-convex: in the notch"),
        pytest.param([L_SHAPE], [], (125, 65), True, id="non-convex: in the foot"),
        pytest.param([L_SHAPE], [], (75, 35), True, id="non-convex: in the stem"),
    ],
)
def test_zones(include, exclude, centre, expected):
    filt = FaceFilter(include_zones=include, exclude_zones=exclude)
    assert kept(filt, face_at(centre[0], centre[1], size=4)) is expected


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        pytest.param((0, 0, 11, 11), False, id="11 px: below min"),
        pytest.param((0, 0, 12, 12), True, id="12 px: at min"),
        pytest.param((0, 0, 5, 40), True, id="5x40: size is the longer side"),
        pytest.param((0, 0, 60, 60), True, id="60 px: at max"),
        pytest.param((0, 0, 61, 30), False, id="61 px wide: above max"),
    ],
)
def test_face_size_limits(box, expected):
    filt = FaceFilter(min_face_px=12, max_face_px=60)
    dets = Detections(
        np.array([box], np.float32), np.array([0.9], np.float32), np.array([MASK], np.int64)
    )
    assert kept(filt, dets) is expected


@pytest.mark.parametrize(
    ("label", "score", "expected"),
    [
        (MASK, 0.59, False),
        (MASK, 0.60, True),
        (NO_MASK, 0.49, False),
        (NO_MASK, 0.50, True),
    ],
)
def test_per_class_thresholds(label, score, expected):
    filt = FaceFilter(thresholds={"mask": 0.6, "no_mask": 0.5})
    assert kept(filt, face_at(100, 50, score=score, label=label)) is expected


def test_a_class_without_threshold_is_kept():
    filt = FaceFilter(thresholds={"mask": 0.9})
    assert kept(filt, face_at(100, 50, score=0.1, label=NO_MASK))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"thresholds": {"masked": 0.5}}, "unknown label"),
        ({"thresholds": {"mask": 1.5}}, "between 0 and 1"),
        ({"min_face_px": 50, "max_face_px": 10}, "cannot exceed"),
        ({"include_zones": [[(0, 0), (1, 1)]]}, "at least 3 points"),
    ],
)
def test_bad_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FaceFilter(**kwargs)


def test_batch_keeps_order_and_values():
    dets = Detections.concat(
        [face_at(100, 50, score=0.8), face_at(10, 10), face_at(120, 60, label=NO_MASK)]
    )
    out = FaceFilter(include_zones=[SQUARE]).apply(dets, W, H)
    assert out.labels.tolist() == [MASK, NO_MASK]
    assert out.scores.tolist() == pytest.approx([0.8, 0.9])


def test_zones_rescale_when_the_frame_size_changes():
    filt = FaceFilter(include_zones=[LEFT_HALF])
    assert kept(filt, face_at(80, 50, size=4))  # 80 < 100: left half of a 200 px frame
    assert len(filt.apply(face_at(80, 50, size=4), 100, 100)) == 0  # right half of 100 px


def test_from_camera_section():
    cam = CameraSection(
        id="cam1", source="x.mp4", include_zones=[SQUARE], min_face_px=12, max_face_px=60
    )
    filt = FaceFilter.from_camera(cam, {"no_mask": 0.7})
    assert filt.describe() == {
        "include_zones": 1,
        "exclude_zones": 0,
        "min_face_px": 12.0,
        "max_face_px": 60.0,
        "thresholds": {"no_mask": 0.7},
    }
    assert kept(filt, face_at(100, 50, size=20, label=NO_MASK, score=0.8))
    assert not kept(filt, face_at(100, 50, size=20, label=NO_MASK, score=0.6))


def test_empty_inputs():
    filt = FaceFilter(include_zones=[SQUARE])
    assert len(filt.apply(Detections(), W, H)) == 0
    assert points_in_polygon(np.zeros((0, 2)), np.array(SQUARE)).shape == (0,)


def test_point_in_polygon_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    poly = np.array([(10, 10), (90, 20), (60, 50), (95, 90), (20, 80), (40, 45)], np.float64)
    pts = np.random.default_rng(1).uniform(0, 100, (500, 2))
    ours = points_in_polygon(pts, poly)
    theirs = [cv2.pointPolygonTest(poly.astype(np.float32), (x, y), False) >= 0 for x, y in pts]
    assert ours.tolist() == theirs
