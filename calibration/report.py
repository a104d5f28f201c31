"""`siaga calibrate report`: is this camera's view good enough to judge masks?

Runs the shipped model on frames sampled from a clip, measures face widths and says what share
of faces is too small to judge (UNRELIABLE_FACE_PX, measured on andrewmvd by
`python -m calibration.size_study`), plus recommended settings and a plain verdict.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from models.adapters import Adapter

# Below this face width (px) siaga_facemask_v1's mask AP50 falls from 0.97 to 0.77 and
# no_mask AP50 from 0.87 to 0.55 (andrewmvd split_val+split_test; see calibration/size_study).
UNRELIABLE_FACE_PX: Final = 16
# Verdict limits on the share of faces below UNRELIABLE_FACE_PX.
GOOD_MAX_SHARE: Final = 0.25
MARGINAL_MAX_SHARE: Final = 0.6
# Faces needed in the sample before any verdict better than "unsuitable" is given.
MIN_FACES: Final = 10
# The agent's default sampling rate; more buys little for people walking past.
DEFAULT_DETECT_FPS: Final = 5.0
# Share of one core the detector may use per camera when recommending a detect rate.
CPU_BUDGET: Final = 0.5


@dataclass(frozen=True)
class SuitabilityReport:
    """Everything the report prints (and writes as JSON)."""

    video: str
    frame_width: int
    frame_height: int
    source_fps: float
    frames_sampled: int
    faces: int
    face_px_p10: float | None
    face_px_p50: float | None
    face_px_p90: float | None
    share_unreliable: float | None
    unreliable_face_px: int
    inference_ms_mean: float
    recommended_min_face_px: int
    recommended_max_face_px: int | None
    recommended_detect_fps: float
    detect_resolution: str
    verdict: str
    reasons: list[str]

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return asdict(self)


def sample_frames(path: Path, *, count: int) -> tuple[list[np.ndarray], float]:
    """Up to `count` frames spread evenly over a clip, and its frame rate."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise OSError(f"cannot open {path}")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        step = max(1, total // count) if total > 0 else 1
        frames = [f for i, f in enumerate(_read_all(cap)) if i % step == 0][:count]
    finally:
        cap.release()
    if not frames:
        raise OSError(f"no readable frame in {path}")
    return frames, fps


def _read_all(cap: cv2.VideoCapture) -> Iterator[np.ndarray]:
    while True:
        ok, frame = cap.read()
        if not ok or frame is None:
            return
        yield frame


def verdict_for(faces: int, share_unreliable: float | None) -> tuple[str, list[str]]:
    """good / marginal / unsuitable, with the reasons in plain words."""
    if faces < MIN_FACES or share_unreliable is None:
        return "unsuitable", [f"only {faces} faces found in the sample (need {MIN_FACES})"]
    pct = f"{share_unreliable:.0%} of faces are under {UNRELIABLE_FACE_PX} px wide"
    if share_unreliable <= GOOD_MAX_SHARE:
        return "good", [pct]
    if share_unreliable <= MARGINAL_MAX_SHARE:
        return "marginal", [pct, "zoom in or draw an include zone where faces are larger"]
    return "unsuitable", [pct, "move the camera closer or use a longer lens"]


def recommend_fps(inference_ms: float, source_fps: float) -> float:
    """A detect rate the box can sustain within CPU_BUDGET, capped by the source and default."""
    affordable = CPU_BUDGET * 1000.0 / max(inference_ms, 1e-3)
    cap = min(DEFAULT_DETECT_FPS, source_fps) if source_fps > 0 else DEFAULT_DETECT_FPS
    return round(max(0.5, min(affordable, cap)), 1)


def face_widths(detector: Adapter, frames: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Widths (px) of every face found at the model's threshold, and mean inference ms."""
    widths: list[np.ndarray] = []
    spent = 0.0
    for frame in frames:
        t0 = time.perf_counter()
        dets = detector.detect(frame)
        spent += time.perf_counter() - t0
        widths.append(dets.boxes[:, 2] - dets.boxes[:, 0])
    return np.concatenate(widths) if widths else np.zeros(0), spent * 1000 / max(len(frames), 1)


def build_report(
    video: Path, widths: np.ndarray, *, frame_shape: tuple[int, int], fps: float,
    frames: int, inference_ms: float, model_input: tuple[int, int],
) -> SuitabilityReport:  # fmt: skip
    """Turn measured face widths and timings into the report (pure)."""
    h, w = frame_shape
    n = len(widths)
    pct = (lambda q: round(float(np.percentile(widths, q)), 1)) if n else (lambda q: None)
    share = float(np.mean(widths < UNRELIABLE_FACE_PX)) if n else None
    verdict, reasons = verdict_for(n, share)
    # The model resizes the whole frame to its input: a frame much larger than the input shrinks
    # faces before detection, which an include zone (or a lower stream) does not fix; say so.
    scale = min(model_input[0] / w, model_input[1] / h)
    res = f"{w}x{h} frames are resized to the model's {model_input[0]}x{model_input[1]}"
    if scale < 0.5 and n and float(np.median(widths)) * scale < UNRELIABLE_FACE_PX:
        res += "; faces shrink below the reliable size there: aim the camera closer"
    return SuitabilityReport(
        video=str(video), frame_width=w, frame_height=h, source_fps=round(fps, 2),
        frames_sampled=frames, faces=n, face_px_p10=pct(10), face_px_p50=pct(50),
        face_px_p90=pct(90), share_unreliable=None if share is None else round(share, 3),
        unreliable_face_px=UNRELIABLE_FACE_PX, inference_ms_mean=round(inference_ms, 1),
        recommended_min_face_px=UNRELIABLE_FACE_PX,
        recommended_max_face_px=min(max(w, h), int(np.percentile(widths, 99) * 2)) if n else None,
        recommended_detect_fps=recommend_fps(inference_ms, fps), detect_resolution=res,
        verdict=verdict, reasons=reasons,
    )  # fmt: skip


def run_report(detector: Adapter, video: Path, *, count: int = 60) -> SuitabilityReport:
    """Sample a clip, measure faces with the detector and build the report."""
    frames, fps = sample_frames(video, count=count)
    widths, ms = face_widths(detector, frames)
    spec = detector.spec
    h, w = frames[0].shape[:2]
    # A dynamic-input model (no fixed size) sees the frame as it is.
    model_input = (spec.input_width or w, spec.input_height or h)
    return build_report(
        video, widths, frame_shape=(h, w), fps=fps, frames=len(frames),
        inference_ms=ms, model_input=model_input,
    )  # fmt: skip


def render(r: SuitabilityReport) -> list[str]:
    """The human-readable report."""
    sizes = (
        f"face width p10/p50/p90: {r.face_px_p10} / {r.face_px_p50} / {r.face_px_p90} px"
        if r.faces
        else "no faces found"
    )
    share = "-" if r.share_unreliable is None else f"{r.share_unreliable:.0%}"
    return [
        f"{r.video}: {r.frame_width}x{r.frame_height} at {r.source_fps} fps, "
        f"{r.frames_sampled} frames sampled, {r.faces} faces",
        sizes,
        f"faces under {r.unreliable_face_px} px (mask judgement unreliable): {share}",
        f"inference {r.inference_ms_mean} ms per frame",
        f"recommended: min_face_px = {r.recommended_min_face_px}, "
        f"max_face_px = {r.recommended_max_face_px}, detect_fps = {r.recommended_detect_fps}",
        f"detect resolution: {r.detect_resolution}",
        f"verdict: {r.verdict.upper()} ({'; '.join(r.reasons)})",
    ]
