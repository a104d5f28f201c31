"""Per-camera detection filters: zones, face-size limits and per-class score thresholds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from agent.config import CameraSection
from models.detections import LABEL_NAMES, Detections, label_id

Polygon = Sequence[tuple[float, float]]
# A centre this close (px) to a zone's edge counts as on it: the boundary belongs to the zone.
EDGE_EPS_PX = 1e-3


def _as_polygons(zones: Sequence[Polygon]) -> tuple[np.ndarray, ...]:
    polys = tuple(np.asarray(z, dtype=np.float64).reshape(-1, 2) for z in zones)
    for p in polys:
        if len(p) < 3:
            raise ValueError("a zone polygon needs at least 3 points")
    return polys


def on_polygon_edge(points: np.ndarray, poly: np.ndarray, eps: float = EDGE_EPS_PX) -> np.ndarray:
    """For (N,2) points, True where a point lies on an edge of polygon (M,2)."""
    a = poly[None, :, :]
    e = np.roll(poly, -1, axis=0)[None, :, :] - a  # (1, M, 2) edge vectors
    d = points[:, None, :] - a  # (N, M, 2)
    length2 = (e**2).sum(axis=2)
    # Degenerate (repeated-point) edges have zero length: project onto their start point.
    t = np.clip((d * e).sum(axis=2) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    dist2 = ((d - t[..., None] * e) ** 2).sum(axis=2)
    return np.asarray((dist2 <= eps * eps).any(axis=1))


def points_in_polygon(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """For (N,2) points, True where a point is inside polygon (M,2) or on its boundary."""
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    x, y = points[:, 0:1], points[:, 1:2]  # (N, 1): broadcast against the M edges
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    straddles = (y1 > y) != (y2 > y)
    # Only edges that straddle the ray's y are used, so the division is safe where it matters.
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    crossings = np.count_nonzero(straddles & (x < x_cross), axis=1)
    return np.asarray((crossings % 2 == 1) | on_polygon_edge(points, poly))


def in_any(points: np.ndarray, polys: Sequence[np.ndarray]) -> np.ndarray:
    """True where a point lies in at least one of the polygons."""
    hit = np.zeros(len(points), dtype=bool)
    for poly in polys:
        hit |= points_in_polygon(points, poly)
    return hit


def parse_class_thresholds(raw: Mapping[str, float] | None) -> dict[int, float]:
    """{"mask": 0.6, "no_mask": 0.5} → {label id: threshold}, validated."""
    out: dict[int, float] = {}
    for name, value in (raw or {}).items():
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"threshold for {name!r} must be between 0 and 1, got {value}")
        out[label_id(name)] = float(value)
    return out


class FaceFilter:
    """Keeps the faces that count for one camera: in its zones, of plausible size, confident."""

    def __init__(
        self,
        *,
        include_zones: Sequence[Polygon] = (),
        exclude_zones: Sequence[Polygon] = (),
        min_face_px: float = 1,
        max_face_px: float = float("inf"),
        thresholds: Mapping[str, float] | None = None,
    ) -> None:
        if min_face_px > max_face_px:
            raise ValueError("min_face_px cannot exceed max_face_px")
        self.include = _as_polygons(include_zones)
        self.exclude = _as_polygons(exclude_zones)
        self.min_face_px = float(min_face_px)
        self.max_face_px = float(max_face_px)
        self.label_thresholds = parse_class_thresholds(thresholds)
        # Zones scaled to pixels for the last frame size seen (a camera keeps its size).
        self._scaled_for: tuple[int, int] | None = None
        self._include_px: tuple[np.ndarray, ...] = ()
        self._exclude_px: tuple[np.ndarray, ...] = ()

    @classmethod
    def from_camera(
        cls, camera: CameraSection, thresholds: Mapping[str, float] | None = None
    ) -> FaceFilter:
        """A filter from a camera's config section plus calibrated per-class thresholds."""
        return cls(
            include_zones=camera.include_zones,
            exclude_zones=camera.exclude_zones,
            min_face_px=camera.min_face_px,
            max_face_px=camera.max_face_px,
            thresholds=thresholds,
        )

    def describe(self) -> dict[str, object]:
        """The effective settings as plain data (for logs and check-config)."""
        return {
            "include_zones": len(self.include),
            "exclude_zones": len(self.exclude),
            "min_face_px": self.min_face_px,
            "max_face_px": self.max_face_px,
            "thresholds": {LABEL_NAMES[k]: v for k, v in sorted(self.label_thresholds.items())},
        }

    def keep_mask(
        self, dets: Detections, width: int, height: int, *, check_size: bool = True
    ) -> np.ndarray:
        """Boolean mask over `dets`: True for the faces that count (`check_size` False: every
        confident face in the zones, whatever its size: what the camera's suitability weighs)."""
        if len(dets) == 0:
            return np.zeros(0, dtype=bool)
        boxes = dets.boxes.astype(np.float64)
        keep = self._score_ok(dets)
        if check_size:
            keep &= self.size_mask(dets)
        if self.include or self.exclude:
            self._scale(width, height)
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0
            if self._include_px:
                keep &= in_any(centres, self._include_px)
            if self._exclude_px:
                keep &= ~in_any(centres, self._exclude_px)
        return keep

    def apply(
        self, dets: Detections, width: int, height: int, *, check_size: bool = True
    ) -> Detections:
        """The subset of `dets` that counts, for a frame of `width` x `height` pixels."""
        return dets.select(self.keep_mask(dets, width, height, check_size=check_size))

    def size_mask(self, dets: Detections) -> np.ndarray:
        """True where a face's longer side is within min_face_px..max_face_px."""
        boxes = dets.boxes.astype(np.float64)
        if len(boxes) == 0:
            return np.zeros(0, dtype=bool)
        size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        return np.asarray((size >= self.min_face_px) & (size <= self.max_face_px))

    def _score_ok(self, dets: Detections) -> np.ndarray:
        ok = np.ones(len(dets), dtype=bool)
        for label, threshold in self.label_thresholds.items():
            ok &= (dets.labels != label) | (dets.scores >= threshold)
        return ok

    def _scale(self, width: int, height: int) -> None:
        if self._scaled_for == (width, height):
            return
        factor = np.array([width, height], dtype=np.float64)
        self._include_px = tuple(p * factor for p in self.include)
        self._exclude_px = tuple(p * factor for p in self.exclude)
        self._scaled_for = (width, height)
