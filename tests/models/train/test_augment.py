"""Augmentation keeps boxes on the faces they label."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="torch is not installed (the optional `train` extra)")

from models.train import augment as aug
from models.train.dataset import collate, compose

GEOMETRY_ONLY = aug.AugmentConfig(
    color_p=0, gray_p=0, night_p=0, blur_p=0, lowres_p=0, jpeg_p=0, min_visible=0.99
)


def scene(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Black image with white boxes: pixels inside every box are white."""
    rng = np.random.default_rng(seed)
    img = np.zeros((300, 400, 3), np.uint8)
    boxes = []
    for _ in range(5):
        x, y = rng.integers(0, 360), rng.integers(0, 260)
        w, h = rng.integers(12, 40), rng.integers(12, 40)
        boxes.append([x, y, min(400, x + w), min(300, y + h)])
        img[y : y + h, x : x + w] = 255
    return img, np.array(boxes, np.float32), rng.integers(1, 3, 5).astype(np.int64)


def white_inside(img: np.ndarray, boxes: np.ndarray) -> bool:
    """Every box's inner area (shrunk by a pixel for resampling edges) is bright."""
    for x1, y1, x2, y2 in boxes:
        inner = img[int(y1) + 1 : int(y2) - 1, int(x1) + 1 : int(x2) - 1]
        if inner.size and inner.mean() < 200:
            return False
    return True


def crop_item() -> tuple[np.ndarray, int, np.ndarray]:
    crop = np.zeros((40, 30, 3), np.uint8)
    crop[10:30, 5:25] = 255  # the "face" inside a larger crop
    return crop, 2, np.array([5, 10, 25, 30], np.float32)


@pytest.mark.parametrize("seed", range(6))
def test_random_view_and_flip_keep_boxes_on_target(seed: int) -> None:
    rng = np.random.default_rng(seed)
    img, boxes, labels = scene(seed)
    out, b, lab = aug.random_view(rng, img, boxes, labels, out_w=320, out_h=240, cfg=GEOMETRY_ONLY)
    assert out.shape == (240, 320, 3) and len(b) == len(lab)
    assert (b[:, 0] >= 0).all() and (b[:, 2] <= 320).all() and (b[:, 3] <= 240).all()
    assert white_inside(out, b)
    flipped, fb = aug.flip(out, b)
    assert white_inside(flipped, fb)


@pytest.mark.parametrize("seed", range(4))
def test_mosaic_and_paste_keep_boxes_on_target(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scenes = [scene(seed * 4 + k) for k in range(4)]
    out, b, lab = aug.mosaic(rng, scenes, out_w=320, out_h=240, cfg=GEOMETRY_ONLY)
    assert white_inside(out, b)
    out, b2, lab2 = aug.paste_crops(rng, out, b, lab, [crop_item()] * 3, GEOMETRY_ONLY)
    assert len(b2) == len(lab2) >= len(b)
    assert white_inside(out, b2)


def test_clip_boxes_drops_mostly_outside() -> None:
    boxes = np.array([[-30, 0, 10, 10], [5, 5, 15, 15]], np.float32)
    kept, labels = aug.clip_boxes(boxes, np.array([1, 2]), 100, 100, 0.5)
    assert kept.tolist() == [[5, 5, 15, 15]] and labels.tolist() == [2]


@pytest.mark.parametrize(
    "step", [aug.color_jitter, aug.night, aug.blur, aug.low_resolution, aug.jpeg]
)
def test_photometric_steps_keep_shape_and_dtype(step: object) -> None:
    img = np.random.default_rng(0).integers(0, 256, (48, 64, 3)).astype(np.uint8)
    out = step(np.random.default_rng(1), img)  # type: ignore[operator]
    assert out.shape == img.shape and out.dtype == np.uint8


def test_compose_and_collate() -> None:
    scenes = [scene(k) for k in range(3)]
    rng = np.random.default_rng(0)
    items = [
        compose(rng, scenes, [crop_item()], k, out_w=160, out_h=120, cfg=aug.AugmentConfig())
        for k in range(3)
    ]
    batch = collate(items)
    assert batch["images"].shape == (3, 120, 160, 3)
    assert batch["boxes"].shape[:2] == batch["labels"].shape
    assert float(batch["boxes"].max()) <= 1.0
