"""Integration: real detector on a real clip through motion gate → filter → tracker → counter."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.config import CameraSection, SamplingSection, TrackerSection
from agent.counter import WindowCounter
from agent.filters import FaceFilter
from agent.motion import MotionGate
from agent.tracker import Tracker, TrackInfo
from tests.conftest import shared_root

VIDEO = shared_root() / "video" / "gituatu_video.mp4"
MODEL = shared_root() / "models" / "aizoo_facemask_360.onnx"
MAX_FRAMES = 60
DETECT_FPS = 5.0
START = datetime(2021, 7, 1, 10, 0, 0, tzinfo=timezone(timedelta(hours=7)))


def sampled_frames(path: Path, max_frames: int, detect_fps: float):
    """(video time s, frame) at about detect_fps from the first max_frames frames."""
    cv2 = pytest.importorskip("cv2")
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    next_due = 0.0
    try:
        for i in range(max_frames):
            ok, frame = cap.read()
            if not ok:
                break
            t = i / fps
            if t + 1e-9 >= next_due:
                next_due += 1.0 / detect_fps
                yield t, frame
    finally:
        cap.release()


def test_pipeline_on_video_merges_detections_into_people():
    if not VIDEO.is_file() or not MODEL.is_file():
        pytest.skip(f"needs {VIDEO} and {MODEL} (shared data, not shipped)")
    from models.detector import load_detector

    detector = load_detector("aizoo_facemask_360")
    gate = MotionGate.from_config(SamplingSection())
    face_filter = FaceFilter.from_camera(CameraSection(id="cam1", source=str(VIDEO)))
    tracker = Tracker.from_config(TrackerSection())
    counter = WindowCounter(60)

    def count(tracks: tuple[TrackInfo, ...]) -> None:
        for track in tracks:  # tracker time is video seconds from START
            counter.person(START + timedelta(seconds=track.last_seen), masked=track.masked)

    raw = 0
    for t, frame in sampled_frames(VIDEO, MAX_FRAMES, DETECT_FPS):
        now = START + timedelta(seconds=t)
        inferred = gate.check(frame, t)
        if inferred:
            h, w = frame.shape[:2]
            dets = face_filter.apply(detector.detect(frame), w, h)
            raw += len(dets)
            step = tracker.update(dets, t)
        else:
            step = tracker.still(t)  # nothing moved: whoever was in view is still there
        counter.frame(now, inferred=inferred, occupancy=step.occupancy)
        count(step.finished)
    count(tracker.flush(MAX_FRAMES / 30.0))

    (window,) = counter.close_due(START + timedelta(seconds=60))
    assert window.frames_processed == 10
    assert 1 <= window.frames_inferred <= window.frames_processed
    assert raw >= 5, "the detector should see the faces in this clip"
    assert 1 <= window.people_seen <= raw // 3, f"tracker did not merge: {window} from {raw}"
    assert window.masked + window.unmasked == window.people_seen
    assert window.occupancy_max >= 1
