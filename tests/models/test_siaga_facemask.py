"""The shipped detector: registered, verified, small, and INT8 agrees with float."""

from __future__ import annotations

import numpy as np
import pytest

from models.detector import load_detector
from models.registry import PROJECT_MODELS_DIR, Registry

NAMES = ("siaga_facemask_v1", "siaga_facemask_v1_int8")
MAX_BYTES = 5 * 2**20


@pytest.mark.parametrize("name", NAMES)
def test_shipped_file_is_registered_verified_and_small(name: str) -> None:
    resolved = Registry([PROJECT_MODELS_DIR]).resolve(name)  # checks the sha256
    assert resolved.path is not None and resolved.path.parent == PROJECT_MODELS_DIR
    assert resolved.path.stat().st_size <= MAX_BYTES
    assert resolved.spec.adapter == "ultraface"
    assert resolved.spec.labels == ["background", "no_mask", "mask"]


def _scene() -> np.ndarray:
    """A grey frame with two face-like blobs (enough to exercise decode and NMS)."""
    rng = np.random.default_rng(0)
    frame = np.full((720, 1280, 3), 110, np.uint8)
    frame += rng.integers(0, 20, frame.shape, dtype=np.uint8)
    for x in (300, 800):
        frame[200:280, x : x + 64] = (150, 170, 200)
        frame[250:280, x + 8 : x + 56] = (230, 230, 230)
    return frame


def test_int8_scores_track_float() -> None:
    registry = Registry([PROJECT_MODELS_DIR])
    float_det = load_detector(NAMES[0], registry=registry)
    int8_det = load_detector(NAMES[1], registry=registry)
    feeds, _ = float_det.prepare(_scene())  # type: ignore[attr-defined]
    f_scores = float_det.run(feeds)[0]  # type: ignore[attr-defined]
    q_scores = int8_det.run(feeds)[0]  # type: ignore[attr-defined]
    assert f_scores.shape == q_scores.shape == (1, 17640, 3)
    assert float(np.abs(f_scores - q_scores).mean()) < 0.02
    for det in (float_det, int8_det):
        out = det.detect(_scene(), conf=0.01)
        assert out.boxes.shape[1] == 4 and (out.boxes[:, 2] <= 1280).all()
