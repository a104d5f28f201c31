"""One camera worker on a real clip with the real detector; windows collected without a broker."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from agent.config import AgentConfig, CameraSection
from agent.counter import Window
from agent.service import camera_setup
from agent.worker import CameraWorker
from models.detector import load_detector


def make_clip(src: Path, out: Path, *, frames: int, fps: float) -> Path:
    reader = cv2.VideoCapture(str(src))
    ok, frame = reader.read()
    assert ok
    h, w = frame.shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    for _ in range(frames):
        writer.write(frame)
        ok, frame = reader.read()
        if not ok:
            break
    writer.release()
    return out


@pytest.fixture(scope="module")
def detector(shared: Path):
    return load_detector("aizoo_facemask_360")


def config(clip: Path, **camera: object) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "agent": {"id": "t-box", "site": "test", "kelurahan_code": "33.74.01.1001"},
            "cameras": [{"id": "cam1", "source": str(clip), **camera}],
            "counting": {"window_s": 5},
            "sampling": {"detect_fps": 8},
        }
    )


def run_worker(cfg: AgentConfig, detector) -> tuple[CameraWorker, list[Window]]:
    windows: list[Window] = []
    cam: CameraSection = cfg.cameras[0]
    setup = camera_setup(cam, detector.spec.conf_threshold)
    worker = CameraWorker(
        cfg, cam, detector, setup.face_filter, lambda c, w: windows.append(w),
        detect_conf=setup.detect_conf,
    )  # fmt: skip
    worker.start()
    worker.join(timeout_s=30)
    assert not worker.thread.is_alive(), "worker did not finish at end of file"
    return worker, windows


def test_masked_person_counted_once_and_every_frame_in_a_window(shared: Path, detector, tmp_path):
    clip = make_clip(shared / "video" / "916241958_mask.mp4", tmp_path / "m.mp4", frames=60, fps=25)
    worker, windows = run_worker(config(clip), detector)
    assert windows, "no window emitted"
    assert sum(w.frames_processed for w in windows) == worker.health.processed > 10
    assert sum(w.frames_inferred for w in windows) == worker.health.inferred >= 1
    people = sum(w.people_seen for w in windows)
    assert 1 <= people <= 2, f"one person in the clip, counted {people}"
    assert sum(w.masked for w in windows) >= 1
    for w in windows:
        assert w.masked + w.unmasked == w.people_seen
        assert w.end > w.start


def test_zone_excluding_everything_counts_nobody(shared: Path, detector, tmp_path):
    clip = make_clip(shared / "video" / "916241958_mask.mp4", tmp_path / "m.mp4", frames=40, fps=25)
    everything = [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]]
    worker, windows = run_worker(config(clip, exclude_zones=everything), detector)
    assert worker.health.inferred >= 1
    assert sum(w.people_seen for w in windows) == 0
