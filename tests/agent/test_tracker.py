from collections.abc import Sequence

import numpy as np
import pytest

from agent.config import TrackerSection
from agent.tracker import Tracker, TrackInfo, associate
from models.detections import MASK, NO_MASK, Detections

DT = 0.2  # 5 fps inference

Face = tuple[float, float, float, int, float]  # cx, cy, size, label, score


def dets_of(faces: Sequence[Face]) -> Detections:
    if not faces:
        return Detections()
    boxes = [[cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2] for cx, cy, s, _, _ in faces]
    return Detections(
        np.array(boxes, np.float32),
        np.array([f[4] for f in faces], np.float32),
        np.array([f[3] for f in faces], np.int64),
    )


def run(frames: Sequence[Sequence[Face]], tracker: Tracker | None = None) -> list[TrackInfo]:
    """Feed frames at 5 fps, then empty frames until every track has aged out."""
    tr = tracker or Tracker(iou_threshold=0.25, max_age_s=1.0, min_hits=2)
    finished: list[TrackInfo] = []
    for i, faces in enumerate(frames):
        finished += tr.update(dets_of(faces), i * DT).finished
    for j in range(len(frames), len(frames) + 10):
        finished += tr.update(Detections(), j * DT).finished
    assert tr.live == 0
    return finished


def walker(n: int, x0: float, y0: float, vx: float, vy: float, size: float, labels, seed=0):
    """n frames of one face moving at (vx, vy) px per frame with ±2 px jitter."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        jx, jy, js = rng.uniform(-2, 2, 3)
        label, score = labels(i)
        out.append((x0 + vx * i + jx, y0 + vy * i + jy, size + js, label, score))
    return out


def mostly_masked(i: int) -> tuple[int, float]:
    return (NO_MASK, 0.55) if i in (3, 11, 17) else (MASK, 0.9)


def always(label: int, score: float = 0.9):
    return lambda i: (label, score)


ONE_WALKER = [[f] for f in walker(20, 100, 200, 10, 1, 24, mostly_masked)]
A = walker(16, 100, 200, 20, 0, 30, always(MASK), seed=1)
B = walker(16, 400, 210, -20, 0, 30, always(NO_MASK), seed=2)
CROSSING = [[a, b] for a, b in zip(A, B, strict=True)]
FAST_SMALL = [[(50 + 30 * i, 100, 25, NO_MASK, 0.8)] for i in range(6)]  # IoU 0 step to step
SINGLE_FP = [[(300, 300, 20, NO_MASK, 0.7)], [], [], []]
FLICKER = [[(200, 200, 30, MASK, 0.9)], [], [(204, 200, 30, MASK, 0.9)], [], []]
TIE = [[(200, 200, 30, MASK, 0.8)], [(202, 200, 30, NO_MASK, 0.8)]]
SMALL_VS_BIG = [[(200, 200, 20, MASK, 0.9)], [(210, 200, 60, MASK, 0.9)], []]


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        pytest.param(ONE_WALKER, [(MASK, 20)], id="one walker, jittery, 20 frames"),
        pytest.param(CROSSING, [(MASK, 16), (NO_MASK, 16)], id="two people cross paths"),
        pytest.param(FAST_SMALL, [(NO_MASK, 6)], id="25 px face moving 30 px per frame"),
        pytest.param(SINGLE_FP, [], id="single-frame false positive"),
        pytest.param(FLICKER, [(MASK, 2)], id="missed every other frame"),
        pytest.param(TIE, [(NO_MASK, 2)], id="tied vote counts as no_mask"),
        pytest.param(SMALL_VS_BIG, [], id="size gate: 20 px track does not take a 60 px face"),
    ],
)
def test_scenarios(frames, expected):
    finished = run(frames)
    assert sorted((t.label, t.hits) for t in finished) == sorted(expected)


def test_walker_votes_and_times():
    (track,) = run(ONE_WALKER)
    assert track.votes == pytest.approx((17 * 0.9, 3 * 0.55), rel=1e-5)
    assert track.masked
    assert (track.first_seen, track.last_seen) == pytest.approx((0.0, 19 * DT))


def test_crossing_tracks_keep_their_identity():
    finished = run(CROSSING)
    # No swap at the crossing: each track's votes are pure.
    assert sorted(t.votes for t in finished) == [
        pytest.approx((0.0, 16 * 0.9)),
        pytest.approx((16 * 0.9, 0.0)),
    ]


def test_finishes_only_after_max_age():
    tr = Tracker(iou_threshold=0.25, max_age_s=1.0, min_hits=2)
    face = [(100, 100, 30, MASK, 0.9)]
    tr.update(dets_of(face), 0.0)
    step = tr.update(dets_of(face), 0.2)
    assert step.occupancy == 1 and step.finished == ()
    assert tr.update(Detections(), 1.2).finished == ()  # exactly max_age: still alive
    assert tr.update(Detections(), 1.2).occupancy == 1  # missed, yet still in view
    step = tr.update(Detections(), 1.21)
    assert [t.track_id for t in step.finished] == [1] and step.occupancy == 0


@pytest.mark.parametrize(("report_still", "expected_hits"), [(True, [2]), (False, [])])
def test_still_frames_keep_a_standing_person_alive(report_still, expected_hits):
    # Seen at t=0, then the motion gate skips 5 s of still frames until its keep-alive.
    tr = Tracker(iou_threshold=0.25, max_age_s=1.5, min_hits=2)
    face = [(100, 100, 30, NO_MASK, 0.9)]
    finished = list(tr.update(dets_of(face), 0.0).finished)
    for i in range(1, 25):
        if report_still:
            finished += tr.still(i * DT).finished
    finished += tr.update(dets_of(face), 5.0).finished
    finished += tr.flush(5.2)
    assert [t.hits for t in finished] == expected_hits


def test_still_stops_prediction():
    tr = Tracker(iou_threshold=0.25, max_age_s=1.5, min_hits=2)
    tr.update(dets_of([(100, 100, 30, MASK, 0.9)]), 0.0)
    tr.update(dets_of([(130, 100, 30, MASK, 0.9)]), 0.2)  # 150 px/s to the right
    assert tr.still(1.0).occupancy == 1
    # Had it kept moving it would be far right by t=3; it stopped, so it is where it was.
    step = tr.update(dets_of([(131, 100, 30, MASK, 0.9)]), 2.0)
    assert [t.hits for t in step.active] == [3]


def test_confirmation_and_occupancy():
    tr = Tracker(iou_threshold=0.25, max_age_s=1.0, min_hits=3)
    faces = [(100, 100, 30, MASK, 0.9), (400, 100, 30, NO_MASK, 0.9)]
    occupancy = [tr.update(dets_of(faces), i * DT).occupancy for i in range(4)]
    assert occupancy == [0, 0, 2, 2]


def test_flush_reports_confirmed_only_and_ids_increase():
    tr = Tracker(iou_threshold=0.25, max_age_s=1.0, min_hits=2)
    tr.update(dets_of([(100, 100, 30, MASK, 0.9)]), 0.0)
    tr.update(dets_of([(100, 100, 30, MASK, 0.9), (500, 100, 30, MASK, 0.9)]), 0.2)
    finished = tr.flush(0.4)
    assert [t.track_id for t in finished] == [1]  # track 2 has one hit: discarded
    assert tr.live == 0
    tr.update(dets_of([(100, 100, 30, MASK, 0.9)]), 0.6)
    tr.update(dets_of([(100, 100, 30, MASK, 0.9)]), 0.8)
    assert [t.track_id for t in tr.flush(1.0)] == [3]


def test_time_going_backwards_is_clamped():
    tr = Tracker(iou_threshold=0.25, max_age_s=1.0, min_hits=2)
    face = [(100, 100, 30, MASK, 0.9)]
    tr.update(dets_of(face), 10.0)
    step = tr.update(dets_of(face), 5.0)
    assert step.occupancy == 1
    assert step.active[0].last_seen == 10.0


def test_from_config():
    tr = Tracker.from_config(TrackerSection(iou_threshold=0.3, max_age_s=2.0, min_hits=3))
    assert (tr.iou_threshold, tr.max_age_s, tr.min_hits) == (0.3, 2.0, 3)


@pytest.mark.parametrize(
    ("tracks", "dets", "expected"),
    [
        pytest.param([[0, 0, 10, 10]], [[1, 0, 11, 10]], [(0, 0)], id="IoU match"),
        pytest.param([[0, 0, 10, 10]], [[15, 0, 25, 10]], [(0, 0)], id="centre match, 1.5 sizes"),
        pytest.param([[0, 0, 10, 10]], [[25, 0, 35, 10]], [], id="2.5 sizes: too far"),
        pytest.param(
            [[0, 0, 10, 10], [30, 0, 40, 10]],
            [[32, 0, 42, 10], [2, 0, 12, 10]],
            [(1, 0), (0, 1)],
            id="best pairs win",
        ),
        pytest.param([], [[0, 0, 10, 10]], [], id="no tracks"),
    ],
)
def test_associate(tracks, dets, expected):
    pairs = associate(
        np.array(tracks, np.float64).reshape(-1, 4),
        np.array(dets, np.float64).reshape(-1, 4),
        iou_threshold=0.25,
        centre_gate=2.0,
        max_size_ratio=2.0,
    )
    assert sorted(pairs) == sorted(expected)


def test_only_judgeable_sightings_vote_on_the_mask_decision():
    """Seen ten times as a 'mask' blob it could not judge and twice clearly unmasked: the
    judged votes say unmasked, the plain votes would say masked."""
    tr = Tracker(iou_threshold=0.25, max_age_s=1.0, min_hits=2)
    for i in range(12):
        label, ok = (MASK, False) if i < 10 else (NO_MASK, True)
        d = dets_of([(100 + i, 100, 40, label, 0.8)])
        tr.update(d, i * DT, judgeable=np.array([ok]))
    (info,) = tr.flush(12 * DT)
    assert info.hits == 12 and info.masked  # the detector's plain vote
    assert info.judged_hits == 2 and info.judged_votes == pytest.approx((0.0, 1.6))


def test_judgeable_must_match_the_detections():
    tr = Tracker(iou_threshold=0.25, max_age_s=1.0, min_hits=2)
    with pytest.raises(ValueError, match="judgeable has shape"):
        tr.update(dets_of([(100, 100, 40, MASK, 0.8)]), 0.0, judgeable=np.array([True, False]))
