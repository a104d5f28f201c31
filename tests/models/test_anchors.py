import numpy as np
import pytest

from models.anchors import SsdAnchors, decode_offsets, generate_anchors

AIZOO_260 = SsdAnchors(
    feature_maps=[33, 17, 9, 5, 3],
    sizes=[[0.04, 0.056], [0.08, 0.11], [0.16, 0.22], [0.32, 0.45], [0.64, 0.72]],
    ratios=[1.0, 0.62, 0.42],
)


@pytest.mark.parametrize(
    ("maps", "count"), [([33, 17, 9, 5, 3], 5972), ([45, 23, 12, 6, 4], 11000)]
)
def test_anchor_count_matches_model_contract(maps, count):
    cfg = AIZOO_260.model_copy(update={"feature_maps": maps})
    assert generate_anchors(cfg).shape == (count, 4)


def test_first_cell_anchors_hand_checked():
    a = generate_anchors(AIZOO_260)
    c = 0.5 / 33
    # sizes at ratio 1: squares of side 0.04 and 0.056 centred on the first cell
    np.testing.assert_allclose(a[0], [c - 0.02, c - 0.02, c + 0.02, c + 0.02], atol=1e-6)
    np.testing.assert_allclose(a[1], [c - 0.028, c - 0.028, c + 0.028, c + 0.028], atol=1e-6)
    # first size at ratio 0.62: w = 0.04*sqrt(.62), h = 0.04/sqrt(.62) (taller than wide)
    w, h = 0.04 * np.sqrt(0.62), 0.04 / np.sqrt(0.62)
    np.testing.assert_allclose(a[2], [c - w / 2, c - h / 2, c + w / 2, c + h / 2], atol=1e-6)
    # next cell moves along x (row-major: y, then x)
    np.testing.assert_allclose(a[4, 0] - a[0, 0], 1 / 33, atol=1e-6)
    np.testing.assert_allclose(a[4, 1], a[0, 1], atol=1e-6)


def test_second_level_starts_after_first():
    a = generate_anchors(AIZOO_260)
    start = 33 * 33 * 4
    c = 0.5 / 17
    np.testing.assert_allclose(a[start], [c - 0.04, c - 0.04, c + 0.04, c + 0.04], atol=1e-6)


def test_decode_zero_offsets_returns_anchor():
    anchors = np.array([[0.1, 0.2, 0.3, 0.6]], np.float32)
    out = decode_offsets(np.zeros((1, 4), np.float32), anchors, (0.1, 0.1, 0.2, 0.2))
    np.testing.assert_allclose(out, anchors, atol=1e-6)


def test_decode_hand_checked_offsets():
    anchors = np.array([[0.0, 0.0, 0.2, 0.4]], np.float32)  # centre (0.1, 0.2), size (0.2, 0.4)
    loc = np.array([[1.0, -1.0, np.log(2) / 0.2, 0.0]], np.float32)
    out = decode_offsets(loc, anchors, (0.1, 0.1, 0.2, 0.2))
    # cx = 0.1 + 1*0.1*0.2 = 0.12; cy = 0.2 - 0.1*0.4 = 0.16; w = 0.4; h = 0.4
    np.testing.assert_allclose(out, [[-0.08, -0.04, 0.32, 0.36]], atol=1e-5)
