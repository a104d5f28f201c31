"""Judgement: which faces may be called masked or unmasked, and can this camera judge at all.

The detector always answers `mask` or `no_mask`, also where nobody could: a 12x25 px walking body
on a wide campus view came out `mask` 0.82, and (on an indoor clip not in ../shared, so not
measured here) the back of a head `mask` 0.75: "no lower face visible" looks like a mask to
it. A figure built from such answers tells a city its people mask well when nobody does. So
every face detection is assessed before it may vote (`assess`):

- too small: face WIDTH under `min_face_px` (16 px: where the project measured mask / no_mask
  AP50 to fall from 0.97 / 0.87 to 0.77 / 0.55, calibration.report.UNRELIABLE_FACE_PX). Width,
  not the longer side: the body-shaped phantoms are narrow and tall.
- not face-shaped: height / width outside 0.6-2.0 (99 % of the labelled faces of 16 px and more;
  andrewmvd, all splits). Whole bodies, heads with shoulders and flat objects fall outside.
- ambiguous: neither class clearly ahead, |p_mask - p_no_mask| / (p_mask + p_no_mask) under
  `min_margin` (0.5: the winner holds at least 3/4 of the two). Close-up faces score 0.97-1.0;
  the campus phantoms 0-0.6.
- second opinion disagrees: the project's own face-crop classifier (siaga_maskcls_v1, trained on
  face crops only) is asked about every face that passed the above; where it names the other
  class, or is unsure itself, the sighting is not judged. On the campus clip it rejected the
  two-person 20 px blobs the detector called `mask` 0.64 (classifier: no_mask 0.95). On the
  close-up clips it disagreed on 5 of 407 faces: twice where the detector called the unmasked
  man of gituatu_nomask `mask` (the classifier was right), three times while a mask was being
  put on. On andrewmvd split_val+test it lets 84-95 % of the found faces of 16 px and more vote,
  and those are labelled right 99.4-100 % of the time (calibration.size_study).

One face, one label: a detector with per-class NMS can put a `mask` box and a `no_mask` box on
the same face; the tracker then starts a second person on the loser (gituatu_nomask was counted
as two unmasked people this way). `one_label_per_face` keeps the higher-scoring of boxes that
overlap at IoU >= 0.5, before anything is assessed.

A person (a confirmed track) is judged only when at least `min_frames` of its sightings were
judgeable, by the summed scores of those sightings (tie: unmasked); otherwise it is counted in
`not_judged`. Compliance uses judged people only.

A camera whose recent faces are mostly unjudgeable is "not suitable for mask judgement"
(`Suitability`); the reason names the commonest failure. The same rule serves calibration's
report (`suitability_of`), so the technician sees before installing what the agent will say.

Cost: a few numpy operations per frame on the detections already there, plus one 64x64
classifier run per judgeable face (benchmarks/cctv_truth.py measures both).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Final

import numpy as np

from agent.config import JudgingSection
from models.adapters.two_stage import MaskClassifier, square_crops
from models.boxes import nms
from models.detections import MASK, NO_MASK, Detections

JUDGEABLE: Final = 0
TOO_SMALL: Final = 1
NOT_FACE_SHAPED: Final = 2
AMBIGUOUS: Final = 3
DISPUTED: Final = 4
# Boxes overlapping this much are one face (faces of different people overlap far less).
SAME_FACE_IOU: Final = 0.5
# The classifier's crop: the face box's longer side grown by this (as it was trained).
CROP_EXPAND: Final = 1.2

MASKED: Final = "masked"
UNMASKED: Final = "unmasked"
NOT_JUDGED: Final = "not_judged"


def one_label_per_face(dets: Detections) -> Detections:
    """Of boxes on the same face (IoU >= SAME_FACE_IOU, any label), the best-scoring one."""
    if len(dets) < 2:
        return dets
    return dets.select(np.sort(nms(dets.boxes, dets.scores, SAME_FACE_IOU)))


def assess(dets: Detections, cfg: JudgingSection) -> np.ndarray:
    """(N,) int8 code per detection: JUDGEABLE, or the first reason it cannot be judged."""
    codes = np.zeros(len(dets), dtype=np.int8)
    if not cfg.enabled or len(dets) == 0:
        return codes
    b = dets.boxes.astype(np.float64)
    w = np.maximum(b[:, 2] - b[:, 0], 1e-6)
    aspect = (b[:, 3] - b[:, 1]) / w
    ambiguous = dets.margins() < cfg.min_margin
    codes[ambiguous] = AMBIGUOUS
    codes[(aspect < cfg.min_aspect) | (aspect > cfg.max_aspect)] = NOT_FACE_SHAPED
    codes[w < cfg.min_face_px] = TOO_SMALL  # last: the strongest reason wins
    return codes


def second_opinion(
    image_bgr: np.ndarray,
    dets: Detections,
    codes: np.ndarray,
    classifier: MaskClassifier,
    cfg: JudgingSection,
) -> np.ndarray:
    """`codes` with DISPUTED where the classifier disagrees with the detector or is unsure."""
    todo = np.flatnonzero(codes == JUDGEABLE)
    if len(todo) == 0:
        return codes
    probs = classifier.probabilities(square_crops(image_bgr, dets.boxes[todo], CROP_EXPAND))
    cols = [classifier.columns[MASK], classifier.columns[NO_MASK]]
    opinion = Detections(
        dets.boxes[todo], dets.scores[todo], probs[:, cols].argmax(axis=1), probs[:, cols]
    )
    disputed = (opinion.labels != dets.labels[todo]) | (opinion.margins() < cfg.min_margin)
    out = codes.copy()
    out[todo[disputed]] = DISPUTED
    return out


def judge_faces(
    image_bgr: np.ndarray,
    in_view: Detections,
    cfg: JudgingSection,
    classifier: MaskClassifier | None,
) -> tuple[Detections, np.ndarray]:
    """The whole judgement of one frame's faces in view: one label per face, `assess`, then
    the second opinion. Returns the faces kept and their codes. The agent's worker and
    calibration's report both call this, so the technician sees what the agent will do."""
    faces = one_label_per_face(in_view) if cfg.enabled else in_view
    codes = assess(faces, cfg)
    if classifier is not None and cfg.enabled:
        codes = second_opinion(image_bgr, faces, codes, classifier, cfg)
    return faces, codes


def verdict(judged_hits: int, judged_votes: tuple[float, float], cfg: JudgingSection) -> str:
    """MASKED, UNMASKED or NOT_JUDGED for a finished person."""
    needed = cfg.min_frames if cfg.enabled else 1
    if judged_hits < needed:
        return NOT_JUDGED
    return MASKED if judged_votes[MASK] > judged_votes[NO_MASK] else UNMASKED


@dataclass(frozen=True)
class CameraJudgement:
    """The suitability verdict: None while too few faces were seen to say."""

    suitable: bool | None
    reason: str | None
    faces: int
    judgeable: int


def suitability_of(codes: np.ndarray, cfg: JudgingSection, *, min_px: int | None = None
                   ) -> CameraJudgement:  # fmt: skip
    """The verdict over a set of assessment codes (the agent's recent faces, or a clip's)."""
    faces = len(codes)
    judgeable = int(np.count_nonzero(codes == JUDGEABLE))
    if not cfg.enabled or faces < cfg.min_faces:
        return CameraJudgement(None, None, faces, judgeable)
    share = judgeable / faces
    if share >= cfg.min_judgeable_share:
        return CameraJudgement(True, None, faces, judgeable)
    failures = Counter(int(c) for c in codes if c != JUDGEABLE)
    code, n = failures.most_common(1)[0]
    return CameraJudgement(False, _reason(code, n, faces, share, min_px or cfg.min_face_px),
                           faces, judgeable)  # fmt: skip


def _reason(code: int, n: int, faces: int, share: float, min_px: int) -> str:
    pct, judged = round(100 * n / faces), round(100 * share)
    what = {
        TOO_SMALL: f"wajah terlalu kecil / faces too small: {pct}% under {min_px} px wide",
        NOT_FACE_SHAPED: f"bukan bentuk wajah / not face-shaped: {pct}% (bodies, heads from "
        "behind, objects)",
        AMBIGUOUS: f"model ragu / mask and no mask too close: {pct}%",
        DISPUTED: f"pemeriksa kedua tidak setuju / second opinion disagrees: {pct}%",
    }[code]
    return f"{what}; {judged}% of the last {faces} faces judgeable"


class Suitability:
    """Rolling verdict over one camera's most recent face detections."""

    def __init__(self, cfg: JudgingSection) -> None:
        self.cfg = cfg
        self._codes: deque[int] = deque(maxlen=cfg.recent_faces)

    def observe(self, codes: np.ndarray) -> None:
        """Add one frame's assessment codes."""
        self._codes.extend(int(c) for c in codes)

    def current(self) -> CameraJudgement:
        """The verdict now."""
        return suitability_of(np.fromiter(self._codes, dtype=np.int8, count=len(self._codes)),
                              self.cfg)  # fmt: skip
