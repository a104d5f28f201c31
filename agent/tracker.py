"""Tracker: associates face detections across sampled frames so that one person is one count.

Association per step, greedy (numpy only):
1. every live track's box is moved to time t with its constant-velocity estimate;
2. pairs with IoU >= iou_threshold are matched, highest IoU first;
3. the rest are matched by centre distance relative to face size, nearest first. Faces are
   often ~20 px and inference runs at ~5 fps, so a walking face moves more than its own width
   between inferred frames and plain IoU is 0; the size ratio gate keeps a small face from
   being matched to a large one.
Unmatched detections start tentative tracks; min_hits matched detections confirm a track. A
track not seen for more than max_age_s finishes; only confirmed ones are reported (the rest
are noise). Each track sums detection scores per label; its label is the argmax, ties no_mask.
It also sums them over its judgeable sightings only (`judgeable`, from agent/judge.py), which is
what the mask decision uses: a person seen well once and badly ten times is judged on the once.

Frames the motion gate skipped must be reported with `still(t)`: nothing moved, so whoever was
in view is still there. Otherwise a person standing still (inferred only every keep-alive,
e.g. 5 s, longer than max_age_s) would age out between sightings and never be confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agent.config import TrackerSection
from models.boxes import iou_matrix
from models.detections import MASK, NO_MASK, Detections

# Centre distance allowed for a match, in face sizes (max of width, height). A person walking
# across the view moves up to ~2 face widths per frame at 5 fps; crowds are denser than that
# only rarely, and nearest-first matching resolves the close calls.
DEFAULT_CENTRE_GATE = 2.0
# Largest size ratio between a track's face and a detection it may take.
DEFAULT_MAX_SIZE_RATIO = 2.0
# Weight of the newest displacement in the velocity estimate (the rest is the old estimate).
VELOCITY_GAIN = 0.5


@dataclass(frozen=True)
class TrackInfo:
    """A confirmed track as reported to the counter."""

    track_id: int
    first_seen: float
    last_seen: float
    hits: int
    box: tuple[float, float, float, float]
    votes: tuple[float, float]  # summed scores for (mask, no_mask)
    judged_hits: int = 0  # sightings judgeable (agent/judge.py)
    judged_votes: tuple[float, float] = (0.0, 0.0)  # summed scores over those sightings

    @property
    def label(self) -> int:
        """Majority label by summed score; a tie counts as no_mask (conservative)."""
        return MASK if self.votes[MASK] > self.votes[NO_MASK] else NO_MASK

    @property
    def masked(self) -> bool:
        """True when the track's vote says mask."""
        return self.label == MASK


@dataclass(frozen=True)
class TrackerStep:
    """What one update produced: live confirmed tracks and the tracks that just finished."""

    active: tuple[TrackInfo, ...] = ()
    finished: tuple[TrackInfo, ...] = ()

    @property
    def occupancy(self) -> int:
        """Confirmed people currently in view (tracks still alive, seen or briefly missed)."""
        return len(self.active)


@dataclass
class _Track:
    track_id: int
    box: np.ndarray  # xyxy of the last matched detection
    first_seen: float
    last_seen: float  # time of the last matched detection
    alive_at: float  # last time known present: a detection or a still frame after it
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # centre px per second
    hits: int = 1
    votes: np.ndarray = field(default_factory=lambda: np.zeros(2))
    judged_hits: int = 0
    judged_votes: np.ndarray = field(default_factory=lambda: np.zeros(2))

    def vote(self, label: int, score: float, judgeable: bool) -> None:
        self.votes[label] += score
        if judgeable:
            self.judged_hits += 1
            self.judged_votes[label] += score

    def info(self) -> TrackInfo:
        b = self.box
        return TrackInfo(
            track_id=self.track_id,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            hits=self.hits,
            box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
            votes=(float(self.votes[MASK]), float(self.votes[NO_MASK])),
            judged_hits=self.judged_hits,
            judged_votes=(float(self.judged_votes[MASK]), float(self.judged_votes[NO_MASK])),
        )


def centres(boxes: np.ndarray) -> np.ndarray:
    """(N,4) xyxy → (N,2) centres."""
    return (boxes[:, :2] + boxes[:, 2:]) / 2.0


def sizes(boxes: np.ndarray) -> np.ndarray:
    """(N,4) xyxy → (N,) face size: the longer side, at least 1 px."""
    return np.maximum(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), 1.0)


def greedy_pairs(
    cost: np.ndarray, allowed: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> list[tuple[int, int]]:
    """Lowest-cost-first one-to-one matching among `allowed` pairs of the free rows and cols."""
    sub = np.where(allowed[np.ix_(rows, cols)], cost[np.ix_(rows, cols)], np.inf)
    ri, ci = np.nonzero(np.isfinite(sub))
    order = np.argsort(sub[ri, ci], kind="stable")
    used_r: set[int] = set()
    used_c: set[int] = set()
    pairs = []
    for k in order:
        r, c = int(rows[ri[k]]), int(cols[ci[k]])
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            pairs.append((r, c))
    return pairs


def associate(
    predicted: np.ndarray,
    boxes: np.ndarray,
    *,
    iou_threshold: float,
    centre_gate: float,
    max_size_ratio: float,
) -> list[tuple[int, int]]:
    """(track index, detection index) pairs: IoU pass first, then a centre-distance pass."""
    n, m = len(predicted), len(boxes)
    if n == 0 or m == 0:
        return []
    iou = iou_matrix(predicted.astype(np.float32), boxes.astype(np.float32))
    pairs = greedy_pairs(-iou, iou >= iou_threshold, np.arange(n), np.arange(m))
    free_r = np.setdiff1d(np.arange(n), [p[0] for p in pairs])
    free_c = np.setdiff1d(np.arange(m), [p[1] for p in pairs])
    if len(free_r) == 0 or len(free_c) == 0:
        return pairs
    t_size, d_size = sizes(predicted)[:, None], sizes(boxes)[None, :]
    scale = np.maximum(t_size, d_size)
    dist = np.linalg.norm(centres(predicted)[:, None, :] - centres(boxes)[None, :, :], axis=2)
    rel = dist / scale
    similar = np.maximum(t_size, d_size) <= max_size_ratio * np.minimum(t_size, d_size)
    return pairs + greedy_pairs(rel, (rel <= centre_gate) & similar, free_r, free_c)


class Tracker:
    """Greedy IoU + centre-distance tracker with constant-velocity prediction and mask votes."""

    def __init__(
        self,
        iou_threshold: float,
        max_age_s: float,
        min_hits: int,
        *,
        centre_gate: float = DEFAULT_CENTRE_GATE,
        max_size_ratio: float = DEFAULT_MAX_SIZE_RATIO,
    ) -> None:
        self.iou_threshold = iou_threshold
        self.max_age_s = max_age_s
        self.min_hits = min_hits
        self.centre_gate = centre_gate
        self.max_size_ratio = max_size_ratio
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_t: float | None = None

    @classmethod
    def from_config(cls, section: TrackerSection) -> Tracker:
        """A tracker set up from the agent's [tracker] section."""
        return cls(section.iou_threshold, section.max_age_s, section.min_hits)

    @property
    def live(self) -> int:
        """Tracks alive now, tentative ones included."""
        return len(self._tracks)

    def update(
        self, dets: Detections, t: float, judgeable: np.ndarray | None = None
    ) -> TrackerStep:
        """Feed the (filtered) detections of one inferred frame taken at monotonic time t.

        `judgeable` (N,) bool says which may vote on the mask decision; None: all of them."""
        t = self._clamp(t)
        ok = np.ones(len(dets), dtype=bool) if judgeable is None else np.asarray(judgeable, bool)
        if ok.shape != (len(dets),):
            raise ValueError(f"judgeable has shape {ok.shape}, expected {(len(dets),)}")
        finished = self._expire(t)
        boxes = dets.boxes.astype(np.float64)
        pairs = associate(
            self._predict(t),
            boxes,
            iou_threshold=self.iou_threshold,
            centre_gate=self.centre_gate,
            max_size_ratio=self.max_size_ratio,
        )
        matched = set()
        for ti, di in pairs:
            tr = self._tracks[ti]
            self._hit(tr, boxes[di], t)
            tr.vote(int(dets.labels[di]), float(dets.scores[di]), bool(ok[di]))
            matched.add(di)
        for di in range(len(dets)):
            if di not in matched:
                tr = self._start(boxes[di], t)
                tr.vote(int(dets.labels[di]), float(dets.scores[di]), bool(ok[di]))
        return TrackerStep(active=self._confirmed_infos(), finished=finished)

    def still(self, t: float) -> TrackerStep:
        """A frame the motion gate skipped at time t: live tracks stay alive and stop moving."""
        t = self._clamp(t)
        finished = self._expire(t)
        for tr in self._tracks:
            tr.alive_at = t
            tr.velocity = np.zeros(2)
        return TrackerStep(active=self._confirmed_infos(), finished=finished)

    def flush(self, t: float) -> tuple[TrackInfo, ...]:
        """Finish every live track now (shutdown, reconnect); returns the confirmed ones."""
        self._clamp(t)
        finished = self._confirmed_infos()
        self._tracks = []
        return finished

    def _clamp(self, t: float) -> float:
        # Time is expected to be monotonic; if it goes backwards anyway, treat the frame as
        # taken at the last time seen rather than ageing or predicting with a negative interval.
        if self._last_t is not None and t < self._last_t:
            t = self._last_t
        self._last_t = t
        return t

    def _confirmed(self, track: _Track) -> bool:
        return track.hits >= self.min_hits

    def _confirmed_infos(self) -> tuple[TrackInfo, ...]:
        return tuple(tr.info() for tr in self._tracks if self._confirmed(tr))

    def _expire(self, t: float) -> tuple[TrackInfo, ...]:
        dead = [tr for tr in self._tracks if t - tr.alive_at > self.max_age_s]
        self._tracks = [tr for tr in self._tracks if t - tr.alive_at <= self.max_age_s]
        return tuple(tr.info() for tr in dead if self._confirmed(tr))

    def _predict(self, t: float) -> np.ndarray:
        if not self._tracks:
            return np.zeros((0, 4))
        boxes = np.stack([tr.box for tr in self._tracks])
        shift = np.stack([tr.velocity * (t - tr.last_seen) for tr in self._tracks])
        return boxes + np.concatenate([shift, shift], axis=1)

    def _hit(self, tr: _Track, box: np.ndarray, t: float) -> None:
        dt = t - tr.last_seen
        if dt > 0:
            observed = (centres(box[None])[0] - centres(tr.box[None])[0]) / dt
            # The first displacement is all we know; later ones are smoothed against jitter.
            gain = 1.0 if tr.hits == 1 else VELOCITY_GAIN
            tr.velocity = (1 - gain) * tr.velocity + gain * observed
        tr.box = box
        tr.last_seen = tr.alive_at = t
        tr.hits += 1

    def _start(self, box: np.ndarray, t: float) -> _Track:
        tr = _Track(self._next_id, box, first_seen=t, last_seen=t, alive_at=t)
        self._tracks.append(tr)
        self._next_id += 1
        return tr
