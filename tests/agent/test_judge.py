"""The judgement stage: which faces may vote on masks, and the camera's suitability."""

from __future__ import annotations

import numpy as np
import pytest

from agent.config import JudgingSection
from agent.judge import (
    AMBIGUOUS,
    DISPUTED,
    JUDGEABLE,
    MASKED,
    NOT_FACE_SHAPED,
    NOT_JUDGED,
    TOO_SMALL,
    UNMASKED,
    Suitability,
    assess,
    second_opinion,
    suitability_of,
    verdict,
)
from calibration.report import UNRELIABLE_FACE_PX
from models.detections import MASK, NO_MASK, Detections
from tests.conftest import shared_root

CFG = JudgingSection()


def dets(rows: list[tuple[float, float, int, float, float]]) -> Detections:
    """(width, height, label, p_mask, p_no_mask) per face, placed side by side."""
    boxes = [[i * 400.0, 10.0, i * 400.0 + w, 10.0 + h] for i, (w, h, *_) in enumerate(rows)]
    probs = np.array([[pm, pn] for *_, pm, pn in rows], np.float32).reshape(-1, 2)
    return Detections(
        np.array(boxes, np.float32).reshape(-1, 4),
        probs.max(axis=1),
        np.array([r[2] for r in rows], np.int64),
        probs,
    )


def test_each_reason_is_found():
    d = dets([
        (40, 48, MASK, 0.95, 0.01),  # a clear face
        (12, 25, MASK, 0.82, 0.00),  # a walking body 12 px wide: too small by width
        (30, 80, MASK, 0.80, 0.02),  # 30 px wide but 2.7 times as tall: not a face
        (60, 30, MASK, 0.70, 0.05),  # flat: not a face
        (40, 44, NO_MASK, 0.45, 0.51),  # classes too close
    ])  # fmt: skip
    assert assess(d, CFG).tolist() == [JUDGEABLE, TOO_SMALL, NOT_FACE_SHAPED, NOT_FACE_SHAPED,
                                        AMBIGUOUS]  # fmt: skip


def test_the_width_limit_is_the_size_study_s():
    assert CFG.min_face_px == UNRELIABLE_FACE_PX
    d = dets([(15.9, 16, MASK, 0.9, 0.0), (16, 16, MASK, 0.9, 0.0)])
    assert assess(d, CFG).tolist() == [TOO_SMALL, JUDGEABLE]


def test_off_judges_everything_as_before():
    off = JudgingSection(enabled=False)
    assert assess(dets([(5, 20, MASK, 0.5, 0.49)]), off).tolist() == [JUDGEABLE]
    assert verdict(1, (0.5, 0.0), off) == MASKED


def test_a_family_without_a_second_class_is_not_called_ambiguous():
    d = Detections(np.array([[0, 0, 40, 44]], np.float32), np.array([0.6], np.float32),
                   np.array([MASK]))  # fmt: skip
    assert d.margins().tolist() == [1.0] and assess(d, CFG).tolist() == [JUDGEABLE]


@pytest.mark.parametrize(
    ("hits", "votes", "expected"),
    [
        (0, (0.0, 0.0), NOT_JUDGED),
        (1, (0.9, 0.0), NOT_JUDGED),  # one good frame is not enough
        (2, (1.8, 0.0), MASKED),
        (3, (0.9, 1.6), UNMASKED),
        (2, (0.8, 0.8), UNMASKED),  # a tie is not called masked
    ],
)
def test_verdict_needs_two_judgeable_sightings(hits, votes, expected):
    assert verdict(hits, votes, CFG) == expected


def test_suitability_needs_enough_faces_then_names_the_commonest_failure():
    few = suitability_of(np.array([TOO_SMALL] * 29, np.int8), CFG)
    assert few.suitable is None and few.faces == 29
    codes = np.array([TOO_SMALL] * 80 + [NOT_FACE_SHAPED] * 10 + [JUDGEABLE] * 10, np.int8)
    bad = suitability_of(codes, CFG)
    assert bad.suitable is False and bad.judgeable == 10
    assert bad.reason is not None and "too small: 80% under 16 px" in bad.reason
    good = suitability_of(np.array([TOO_SMALL] * 75 + [JUDGEABLE] * 25, np.int8), CFG)
    assert good.suitable is True and good.reason is None


def test_rolling_suitability_follows_the_recent_faces():
    s = Suitability(JudgingSection(recent_faces=50, min_faces=20))
    s.observe(np.array([TOO_SMALL] * 50, np.int8))
    assert s.current().suitable is False
    s.observe(np.array([JUDGEABLE] * 20, np.int8))  # people come closer: 20 of the last 50
    assert s.current().suitable is True and s.current().faces == 50


def test_the_second_opinion_disputes_a_phantom_and_agrees_on_a_face():
    """The shipped classifier on real frames: a close-up masked face, and the campus clip's
    20 px two-person blob that the detector called `mask` 0.64 (frame 84 of vtest_sda)."""
    cv2 = pytest.importorskip("cv2")
    video = shared_root() / "video"
    if not (video / "vtest_sda.mp4").is_file() or not (video / "gituatu_mask.mp4").is_file():
        pytest.skip(f"needs the clips in {video} (shared data, not shipped)")
    from models.detector import load_classifier, load_detector

    detector, classifier = load_detector(), load_classifier("siaga_maskcls_v1")

    def frame(name: str, index: int) -> np.ndarray:
        cap = cv2.VideoCapture(str(video / name))
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = cap.read()
        cap.release()
        assert ok
        return image

    close = frame("gituatu_mask.mp4", 100)
    d = detector.detect(close)
    codes = assess(d, CFG)
    assert (codes == JUDGEABLE).any() and (d.labels[codes == JUDGEABLE] == MASK).all()
    assert (second_opinion(close, d, codes, classifier, CFG) == codes).all()

    wide = frame("vtest_sda.mp4", 84)
    d = detector.detect(wide, conf=0.4)
    codes = assess(d, CFG)
    blob = codes == JUDGEABLE  # the one detection that passes size, shape and margin
    assert blob.sum() == 1 and d.labels[blob][0] == MASK
    after = second_opinion(wide, d, codes, classifier, CFG)
    assert after[blob].tolist() == [DISPUTED] and (after[~blob] == codes[~blob]).all()


def test_one_face_keeps_one_label():
    """A mask box and a no_mask box on one face (per-class NMS) become the better one; two
    people side by side stay two."""
    from agent.judge import one_label_per_face

    d = Detections(
        np.array([[500, 175, 770, 460], [516, 179, 786, 472], [900, 175, 1100, 400]], np.float32),
        np.array([0.55, 0.9, 0.8], np.float32),
        np.array([MASK, NO_MASK, MASK]),
    )
    kept = one_label_per_face(d)
    assert kept.labels.tolist() == [NO_MASK, MASK] and kept.scores.tolist() == pytest.approx(
        [0.9, 0.8]
    )
