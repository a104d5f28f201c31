from pathlib import Path

import cv2
import numpy as np

from agent.debug import blur_faces, save_snapshot
from models.detections import Detections


def test_blur_destroys_face_detail_and_leaves_the_rest():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (100, 120, 3), dtype=np.uint8)
    box = np.array([[40, 30, 80, 70]], np.float32)
    original = img.copy()
    out = blur_faces(img, box, grow=0.0)
    assert np.array_equal(img, original)  # the caller's frame is untouched
    face_before, face_after = img[30:70, 40:80].astype(float), out[30:70, 40:80].astype(float)
    assert face_after.std() < 0.5 * face_before.std()  # noise pattern gone
    assert np.array_equal(out[:25], img[:25]) and np.array_equal(out[:, :35], img[:, :35])


def test_snapshot_is_blurred_and_private(tmp_path: Path):
    img = np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    dets = Detections(np.array([[10, 10, 50, 50]], np.float32), np.array([0.9], np.float32),
                      np.array([0]))  # fmt: skip
    path = save_snapshot(tmp_path / "dbg", "cam1", 7, img, dets)
    assert path.name == "cam1_00000007.jpg" and (path.parent.stat().st_mode & 0o077) == 0
    saved = cv2.imread(str(path))
    assert saved is not None and saved[15:45, 15:45].std() < img[15:45, 15:45].std() / 2
