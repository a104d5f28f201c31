"""`siaga calibrate preview`: what would this camera publish with this calibration file?

Runs the agent's own CameraWorker (motion gate, detector, filter, tracker, counter) over a
clip on a simulated clock (frame times from the clip's frame rate, so it runs as fast as the
box can) and collects the windows it would publish; no broker, nothing leaves the box. An
annotated strip of a few frames, every face pixelated, is written to a local folder.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from agent.config import AgentConfig, CameraSection
from agent.counter import Window
from agent.debug import blur_faces
from agent.service import build_second_opinion, camera_setup
from agent.source import Frame
from agent.worker import CameraWorker
from calibration.report import sample_frames
from models.adapters import Adapter
from models.annotate import draw

STRIP_HEIGHT_PX = 240
ZONE_COLOURS_BGR = {"include": (255, 200, 0), "exclude": (0, 140, 255)}


@dataclass(frozen=True)
class PreviewResult:
    """Windows the worker emitted, and its processed / inferred frame counts."""

    windows: list[Window]
    processed: int
    inferred: int


def preview_camera(camera: CameraSection, video: Path, calibration: Path) -> CameraSection:
    """The configured camera, reading the clip and using the calibration file under test."""
    return camera.model_copy(
        update={"source": str(video), "calibration_file": calibration, "loop": False}
    )


def run_worker(
    cfg: AgentConfig,
    camera: CameraSection,
    detector: Adapter,
    video: Path,
    *,
    instrument: Callable[[CameraWorker], None] | None = None,
) -> tuple[PreviewResult, CameraWorker]:
    """Feed every sampled frame of the clip through a real worker on a simulated clock.

    `instrument(worker)` is called once before the first frame (benchmarks/cctv_truth.py wraps
    the worker's stages there to time them)."""
    setup = camera_setup(camera, cfg.model.conf_threshold or detector.spec.conf_threshold)
    windows: list[Window] = []
    worker = CameraWorker(
        cfg,
        camera,
        detector,
        setup.face_filter,
        lambda _c, w: windows.append(w),
        detect_conf=setup.detect_conf,
        classifier=build_second_opinion(cfg),
    )
    if instrument is not None:
        instrument(worker)
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise OSError(f"cannot open {video}")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 10.0
    # Start on a window boundary so that the first window is a whole one.
    window_s = cfg.counting.window_s
    wall0 = math.floor(time.time() / window_s) * window_s
    mono0, next_due, index, t = 1_000.0, 0.0, 0, 0.0
    try:
        while True:
            ok, image = cap.read()
            if not ok or image is None:
                break
            t = index / fps
            if t >= next_due:  # the worker's own sampling rule: one frame per period
                worker.process(Frame(image, index, wall0 + t, mono0 + t))
                worker.close_windows(wall0 + t)
                next_due += worker.period_s
            index += 1
    finally:
        cap.release()
    # End of clip, as worker.finish does, but on the simulated clock.
    end_wall, end_mono = wall0 + t + worker.period_s, mono0 + t + worker.period_s
    worker.finish(end_wall, end_mono)
    return PreviewResult(windows, worker.health.processed, worker.health.inferred), worker


def draw_zones(image: np.ndarray, camera_filter_polys: dict[str, tuple[np.ndarray, ...]]) -> None:
    """Outline include / exclude zones (normalised polygons) on an image, in place."""
    h, w = image.shape[:2]
    for kind, polys in camera_filter_polys.items():
        for poly in polys:
            pts = np.round(poly * np.array([w, h])).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(image, [pts], True, ZONE_COLOURS_BGR[kind], 2)


def write_strip(worker: CameraWorker, video: Path, out: Path, *, frames: int = 6) -> Path:
    """A row of frames with the faces that count boxed and pixelated; written locally."""
    images, _fps = sample_frames(video, count=frames)
    ff = worker.filter
    tiles = []
    for image in images:
        h, w = image.shape[:2]
        faces = ff.apply(worker.detector.detect(image, conf=worker.detect_conf), w, h)
        tile = draw(blur_faces(image, faces.boxes), faces)
        draw_zones(tile, {"include": ff.include, "exclude": ff.exclude})
        scale = STRIP_HEIGHT_PX / h
        tiles.append(cv2.resize(tile, (max(1, round(w * scale)), STRIP_HEIGHT_PX)))
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not cv2.imwrite(str(out), np.hstack(tiles)):
        raise OSError(f"cannot write {out}")
    return out


def render_windows(result: PreviewResult) -> list[str]:
    """One line per window, as it would be published."""
    lines = [
        f"{w.start.isoformat(timespec='seconds')} .. {w.end.strftime('%H:%M:%S')}  "
        f"people {w.people_seen:3d}  masked {w.masked:3d}  unmasked {w.unmasked:3d}  "
        f"occupancy mean {w.occupancy_mean:.1f} max {w.occupancy_max}  "
        f"frames {w.frames_processed}/{w.frames_inferred} inferred"
        for w in result.windows
    ]
    total = sum(w.people_seen for w in result.windows)
    masked = sum(w.masked for w in result.windows)
    share = f"{masked / total:.0%}" if total else "-"
    lines.append(
        f"{len(result.windows)} window(s), {total} people, {share} masked; "
        f"{result.processed} frames sampled, {result.inferred} inferred"
    )
    return lines
