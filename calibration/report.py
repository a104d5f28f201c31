"""`siaga calibrate report`: is this camera's view good enough to judge masks?

Runs the shipped model on frames sampled from a clip and assesses every face exactly as the
agent does (agent/judge.py: filter without the size check, `assess`, then the second opinion of
the shipped face-crop classifier), so the technician sees before installing what the agent will
say about the camera: the verdict is built on `suitability_of` over all the faces of the sample.
Also reported: face widths (UNRELIABLE_FACE_PX, measured on andrewmvd by
`python -m calibration.size_study`) and recommended settings.

Verdicts: "unsuitable" where the agent would call the camera not suitable (same reason text);
"good" where it would call it suitable and at most GOOD_MAX_UNJUDGEABLE of the faces cannot be
judged; "marginal" where it is suitable with more lost; "undecided" where the sample holds fewer
faces than the agent needs before it gives a verdict (JudgingSection.min_faces).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from agent.config import JudgingSection
from agent.filters import FaceFilter
from agent.judge import (
    AMBIGUOUS,
    DISPUTED,
    JUDGEABLE,
    NOT_FACE_SHAPED,
    TOO_SMALL,
    CameraJudgement,
    judge_faces,
    suitability_of,
)
from models.adapters import Adapter, MaskClassifier

# Below this face width (px) siaga_facemask_v1's mask AP50 falls from 0.97 to 0.77 and
# no_mask AP50 from 0.87 to 0.55 (andrewmvd split_val+split_test; see calibration/size_study).
# The agent's JudgingSection.min_face_px is the same figure (a test keeps them equal).
UNRELIABLE_FACE_PX: Final = 16
# A suitable view is "good" while at most this share of its faces cannot be judged.
GOOD_MAX_UNJUDGEABLE: Final = 0.25
# The agent's default sampling rate; more buys little for people walking past.
DEFAULT_DETECT_FPS: Final = 5.0
# Share of one core the detector may use per camera when recommending a detect rate.
CPU_BUDGET: Final = 0.5
# The assessment codes by name, as the JSON's not_judgeable counts them.
FAILURES: Final = {TOO_SMALL: "too_small", NOT_FACE_SHAPED: "not_face_shaped",
                   AMBIGUOUS: "ambiguous", DISPUTED: "disputed"}  # fmt: skip
# What a technician can do about the commonest failure.
ADVICE: Final = {
    TOO_SMALL: "move the camera closer, use a longer lens or draw an include zone where faces "
    "are larger",
    NOT_FACE_SHAPED: "aim the camera at faces coming towards it, not at bodies or the backs of "
    "heads",
    AMBIGUOUS: "improve light and focus on the faces, or aim at faces from the front",
    DISPUTED: "improve light and focus on the faces, or aim at faces from the front",
}


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
    # The agent's judgement over the sample's faces (agent/judge.py).
    judgeable: int
    judgeable_share: float | None
    not_judgeable: dict[str, int]
    suitable: bool | None  # the agent's verdict: None with fewer than min_faces faces
    judgement_reason: str | None  # the agent's reason when not suitable
    min_faces: int
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


@dataclass(frozen=True)
class Measurement:
    """What the detector and the judgement found on the sampled frames."""

    widths: np.ndarray  # (N,) px, every face the agent's filter keeps without its size check
    codes: np.ndarray  # (N,) int8 assessment codes (agent.judge)
    inference_ms: float  # mean detector time per frame


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


def commonest_failure(codes: np.ndarray) -> int | None:
    """The commonest reason a face could not be judged (None: every face could)."""
    failures = Counter(int(c) for c in codes if c != JUDGEABLE)
    return failures.most_common(1)[0][0] if failures else None


def verdict_for(judgement: CameraJudgement, codes: np.ndarray, cfg: JudgingSection
                ) -> tuple[str, list[str]]:  # fmt: skip
    """good / marginal / unsuitable / undecided, with the reasons in plain words."""
    faces, judgeable = judgement.faces, judgement.judgeable
    if judgement.suitable is None:
        if not cfg.enabled:
            return "good", ["mask judgement is off ([judging] enabled = false)"]
        return "undecided", [
            f"only {faces} faces found in the sample; the agent needs {cfg.min_faces} before it "
            "judges a camera: sample more frames (--frames) or a busier clip"
        ]
    failure = commonest_failure(codes)
    if not judgement.suitable:
        assert judgement.reason is not None and failure is not None
        return "unsuitable", [judgement.reason, ADVICE[failure]]
    share = f"{judgeable / faces:.0%} of {faces} faces judgeable"
    if failure is None or 1 - judgeable / faces <= GOOD_MAX_UNJUDGEABLE:
        return "good", [share]
    return "marginal", [share, f"most others {FAILURES[failure].replace('_', ' ')}",
                        ADVICE[failure]]  # fmt: skip


def recommend_fps(inference_ms: float, source_fps: float) -> float:
    """A detect rate the box can sustain within CPU_BUDGET, capped by the source and default."""
    affordable = CPU_BUDGET * 1000.0 / max(inference_ms, 1e-3)
    cap = min(DEFAULT_DETECT_FPS, source_fps) if source_fps > 0 else DEFAULT_DETECT_FPS
    return round(max(0.5, min(affordable, cap)), 1)


def measure(
    detector: Adapter, frames: list[np.ndarray], *, classifier: MaskClassifier | None,
    judging: JudgingSection, face_filter: FaceFilter | None = None,
) -> Measurement:  # fmt: skip
    """Detect, filter (without the size check) and assess every frame as the agent's worker
    does; `face_filter` defaults to the agent's for a camera without zones or calibration."""
    conf = detector.spec.conf_threshold
    ff = face_filter or FaceFilter(thresholds={"mask": conf, "no_mask": conf})
    widths: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    spent = 0.0
    for frame in frames:
        t0 = time.perf_counter()
        raw = detector.detect(frame)
        spent += time.perf_counter() - t0
        h, w = frame.shape[:2]
        seen, c = judge_faces(frame, ff.apply(raw, w, h, check_size=False), judging, classifier)
        widths.append(seen.boxes[:, 2] - seen.boxes[:, 0])
        codes.append(c)
    return Measurement(
        np.concatenate(widths) if widths else np.zeros(0),
        np.concatenate(codes) if codes else np.zeros(0, dtype=np.int8),
        spent * 1000 / max(len(frames), 1),
    )


def build_report(
    video: Path, m: Measurement, *, judging: JudgingSection, frame_shape: tuple[int, int],
    fps: float, frames: int, model_input: tuple[int, int],
) -> SuitabilityReport:  # fmt: skip
    """Turn measured faces, their assessment and timings into the report (pure)."""
    h, w = frame_shape
    widths, codes = m.widths, m.codes
    n = len(widths)
    pct = (lambda q: round(float(np.percentile(widths, q)), 1)) if n else (lambda q: None)
    share = float(np.mean(widths < UNRELIABLE_FACE_PX)) if n else None
    judgement = suitability_of(codes, judging)
    verdict, reasons = verdict_for(judgement, codes, judging)
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
        unreliable_face_px=UNRELIABLE_FACE_PX, judgeable=judgement.judgeable,
        judgeable_share=round(judgement.judgeable / n, 3) if n else None,
        not_judgeable={name: int(np.count_nonzero(codes == code))
                       for code, name in FAILURES.items()},
        suitable=judgement.suitable, judgement_reason=judgement.reason,
        min_faces=judging.min_faces, inference_ms_mean=round(m.inference_ms, 1),
        recommended_min_face_px=judging.min_face_px,
        recommended_max_face_px=min(max(w, h), int(np.percentile(widths, 99) * 2)) if n else None,
        recommended_detect_fps=recommend_fps(m.inference_ms, fps), detect_resolution=res,
        verdict=verdict, reasons=reasons,
    )  # fmt: skip


def run_report(
    detector: Adapter, video: Path, *, count: int = 60, classifier: MaskClassifier | None = None,
    judging: JudgingSection | None = None, face_filter: FaceFilter | None = None,
) -> SuitabilityReport:  # fmt: skip
    """Sample a clip, find and assess faces as the agent does and build the report; `judging`
    defaults to the agent's default [judging] section, `classifier` is its second opinion."""
    judging = judging or JudgingSection()
    frames, fps = sample_frames(video, count=count)
    m = measure(detector, frames, classifier=classifier, judging=judging, face_filter=face_filter)
    spec = detector.spec
    h, w = frames[0].shape[:2]
    # A dynamic-input model (no fixed size) sees the frame as it is.
    model_input = (spec.input_width or w, spec.input_height or h)
    return build_report(
        video, m, judging=judging, frame_shape=(h, w), fps=fps, frames=len(frames),
        model_input=model_input,
    )  # fmt: skip


def render(r: SuitabilityReport) -> list[str]:
    """The human-readable report."""
    sizes = (
        f"face width p10/p50/p90: {r.face_px_p10} / {r.face_px_p50} / {r.face_px_p90} px"
        if r.faces
        else "no faces found"
    )
    share = "-" if r.share_unreliable is None else f"{r.share_unreliable:.0%}"
    judgeable = "-" if r.judgeable_share is None else f"{r.judgeable_share:.0%}"
    lost = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r.not_judgeable.items() if v)
    agent = (
        f"not yet known (fewer than {r.min_faces} faces)" if r.suitable is None
        else "suitable" if r.suitable else f"NOT SUITABLE: {r.judgement_reason}"
    )  # fmt: skip
    return [
        f"{r.video}: {r.frame_width}x{r.frame_height} at {r.source_fps} fps, "
        f"{r.frames_sampled} frames sampled, {r.faces} faces",
        sizes,
        f"faces under {r.unreliable_face_px} px (mask judgement unreliable): {share}",
        f"faces the agent can judge: {r.judgeable} of {r.faces} ({judgeable})"
        + (f"; not judgeable: {lost}" if lost else ""),
        f"the agent would call this camera: {agent}",
        f"inference {r.inference_ms_mean} ms per frame",
        f"recommended: min_face_px = {r.recommended_min_face_px}, "
        f"max_face_px = {r.recommended_max_face_px}, detect_fps = {r.recommended_detect_fps}",
        f"detect resolution: {r.detect_resolution}",
        f"verdict: {r.verdict.upper()} ({'; '.join(r.reasons)})",
    ]
