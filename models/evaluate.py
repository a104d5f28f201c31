"""`siaga eval`: run a detector over a VOC-annotated folder and score it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from models.adapters import Adapter
from models.detections import LABEL_NAMES, MASK, NO_MASK, Detections
from models.metrics import MatchLog, match, size_ignore
from models.voc import GroundTruth, parse_voc

# AP is computed from everything the model emits above this floor.
EVAL_CONF = 0.01
SIZE_BUCKETS: dict[str, tuple[float, float]] = {
    "lt16": (0.0, 16.0),
    "16-32": (16.0, 32.0),
    "32-64": (32.0, 64.0),
    "ge64": (64.0, float("inf")),
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class ImageResult:
    """Ground truth, detections (at the eval floor) and the detect() time of one image."""

    truth: GroundTruth
    detections: Detections
    latency_ms: float


@dataclass
class EvalReport:
    """Everything `siaga eval` prints and writes as JSON."""

    model: str
    images: int
    operating_threshold: float
    ap50: dict[str, float]
    ap30: dict[str, float]
    ap50_by_face_width: dict[str, dict[str, float]]
    truth_boxes: dict[str, int]
    count_mae: dict[str, float]
    count_bias: dict[str, float]
    latency_ms: dict[str, float]
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict (NaN becomes None)."""

        def clean(v: object) -> object:
            if isinstance(v, float) and np.isnan(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            return v

        return {k: clean(v) for k, v in asdict(self).items()}


def find_image(images_dir: Path, truth: GroundTruth, stem: str) -> Path | None:
    """The image a VOC file names, else any image file with the same stem."""
    named = images_dir / truth.image
    if named.is_file():
        return named
    for suffix in IMAGE_SUFFIXES:
        candidate = images_dir / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def run_detector(
    detector: Adapter,
    images_dir: Path,
    annotation_files: Iterable[Path],
    *,
    on_image: Callable[[], None] | None = None,
) -> tuple[list[ImageResult], list[str]]:
    """Detect on every annotated image; unreadable images are reported, not fatal."""
    results: list[ImageResult] = []
    errors: list[str] = []
    for ann in annotation_files:
        try:
            truth = parse_voc(ann)
            path = find_image(images_dir, truth, ann.stem)
            image = None if path is None else cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{ann.stem}: image missing or unreadable in {images_dir}")
            start = time.perf_counter()
            dets = detector.detect(image, conf=EVAL_CONF)
            elapsed = (time.perf_counter() - start) * 1000
            results.append(ImageResult(truth, dets, elapsed))
        except ValueError as exc:
            errors.append(str(exc))
        if on_image is not None:
            on_image()
    return results, errors


def class_ap(
    results: list[ImageResult],
    *,
    label: int | None,
    iou_threshold: float,
    size_range: tuple[float, float] | None = None,
) -> float:
    """AP for one label id (None: class-agnostic faces), optionally for one face-width bucket."""
    log = MatchLog()
    for r in results:
        t, d = r.truth, r.detections
        if label is not None:
            gt_keep = (t.labels == label) | t.ignore
            d = d.select(d.labels == label)
        else:
            gt_keep = np.ones(len(t.boxes), dtype=bool)
        gt_boxes = t.boxes[gt_keep]
        gt_ignore = t.ignore[gt_keep] | size_ignore(gt_boxes, size_range)
        hits, counted = match(d.boxes, d.scores, gt_boxes, gt_ignore, iou_threshold=iou_threshold)
        counted &= hits | ~size_ignore(d.boxes, size_range)
        log.add(d.scores[counted], hits[counted], int(np.count_nonzero(~gt_ignore)))
    return log.average_precision()


def ap_table(results: list[ImageResult], iou_threshold: float) -> dict[str, float]:
    """mask, no_mask and class-agnostic face AP at one IoU threshold."""
    table = {
        name: class_ap(results, label=i, iou_threshold=iou_threshold)
        for i, name in enumerate(LABEL_NAMES)
    }
    table["face"] = class_ap(results, label=None, iou_threshold=iou_threshold)
    return table


def count_errors(
    results: list[ImageResult], threshold: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Per-image count error at the operating threshold: mean absolute and mean signed."""
    mae: dict[str, float] = {}
    bias: dict[str, float] = {}
    for label, name in ((MASK, "mask"), (NO_MASK, "no_mask")):
        diffs = np.array(
            [r.detections.above(threshold).count(label) - r.truth.count(label) for r in results],
            dtype=np.float64,
        )
        mae[name] = float(np.abs(diffs).mean()) if len(diffs) else float("nan")
        bias[name] = float(diffs.mean()) if len(diffs) else float("nan")
    return mae, bias


def summarise(
    model: str, threshold: float, results: list[ImageResult], errors: list[str]
) -> EvalReport:
    """Compute every figure of the report from per-image results."""
    lat = np.array([r.latency_ms for r in results]) if results else np.zeros(1)
    mae, bias = count_errors(results, threshold)
    by_size = {
        bucket: {
            name: class_ap(results, label=lab, iou_threshold=0.5, size_range=rng)
            for lab, name in ((MASK, "mask"), (NO_MASK, "no_mask"), (None, "face"))
        }
        for bucket, rng in SIZE_BUCKETS.items()
    }
    return EvalReport(
        model=model,
        images=len(results),
        operating_threshold=threshold,
        ap50=ap_table(results, 0.5),
        ap30=ap_table(results, 0.3),
        ap50_by_face_width=by_size,
        truth_boxes={
            "mask": sum(r.truth.count(MASK) for r in results),
            "no_mask": sum(r.truth.count(NO_MASK) for r in results),
            "ignored": sum(int(r.truth.ignore.sum()) for r in results),
        },
        count_mae=mae,
        count_bias=bias,
        latency_ms={
            "mean": float(lat.mean()),
            "p50": float(np.percentile(lat, 50)),
            "p95": float(np.percentile(lat, 95)),
        },
        errors=errors,
    )
