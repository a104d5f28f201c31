"""Data for the mask / no_mask face-crop classifier: face crops, labels, augmentation, metrics.

Torch-free, so crop cutting, label mapping and the ONNX evaluation run (and are tested) without the
optional `train` extra. Training itself lives in models.train.classifier.
"""

from __future__ import annotations

import hashlib
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.adapters.two_stage import MaskClassifier
from models.preprocess import to_tensor
from models.runtime import RuntimeConfig, make_session
from models.spec import ModelSpec

MODEL_NAME = "siaga_maskcls_v1"
LABELS = ("mask", "no_mask")
VOC_LABELS = {"with_mask": 0, "without_mask": 1, "mask_weared_incorrect": 1}
CROP_DIRS = {"with_mask": 0, "without_mask": 1}
INPUT_SIZE = 64
CROP_EXPAND = 1.2
MIN_TRAIN_FACE_PX = 6  # smaller annotated faces are noise (and no face detector finds them)
CROPS_VAL_EVERY = 10  # every 10th crop, by sorted file name, is held out for validation
SIZE_BUCKETS = ((0, 16), (16, 32), (32, 10**6))

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Face:
    """One annotated face of a PASCAL-VOC file."""

    box: Box
    label: int
    name: str


@dataclass(frozen=True)
class Sample:
    """A labelled face: a whole photo plus its box (andrewmvd), or a ready crop (box None)."""

    image: np.ndarray
    label: int
    source: str
    box: Box | None = None
    kind: str = ""  # the dataset's own class name, e.g. mask_weared_incorrect


def shared_dir(arg: str | None) -> Path:
    """--shared, else $SIAGA_SHARED, else ../shared beside the repository root."""
    if arg:
        return Path(arg).expanduser()
    env = os.environ.get("SIAGA_SHARED")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[3] / "shared"


def square_crop(image: np.ndarray, box: Sequence[float], expand: float = CROP_EXPAND) -> np.ndarray:
    """Square crop around an xyxy box grown by `expand`, clipped: as TwoStageAdapter.crops."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float32)  # float32, as the detector's boxes are
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1, 2.0) * expand / 2
    xa, ya = int(max(0, cx - half)), int(max(0, cy - half))
    xb, yb = int(min(w, math.ceil(cx + half))), int(min(h, math.ceil(cy + half)))
    return image[ya : max(yb, ya + 1), xa : max(xb, xa + 1)]


def read_voc(path: Path) -> list[Face]:
    """Faces of one PASCAL-VOC file; with_mask → mask, without / incorrectly worn → no_mask."""
    faces = []
    for obj in ET.parse(path).getroot().iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in VOC_LABELS:
            raise ValueError(f"{path}: unknown class {name!r}")
        coords = [obj.findtext(f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")]
        if None in coords:
            raise ValueError(f"{path}: object {name!r} has an incomplete bndbox")
        x1, y1, x2, y2 = (float(c) for c in coords if c is not None)
        faces.append(Face((x1, y1, x2, y2), VOC_LABELS[name], name))
    return faces


def read_split(andrewmvd: Path, split: str) -> list[str]:
    """Image stems listed in split_{split}.txt."""
    text = (andrewmvd / f"split_{split}.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def andrewmvd_samples(andrewmvd: Path, stems: Sequence[str], min_px: float = 0) -> list[Sample]:
    """Every annotated face of the given photos whose box is at least min_px on both sides."""
    out = []
    for stem in stems:
        image = cv2.imread(str(andrewmvd / "images" / f"{stem}.jpg"))
        if image is None:
            raise FileNotFoundError(andrewmvd / "images" / f"{stem}.jpg")
        for f in read_voc(andrewmvd / "annotations" / f"{stem}.xml"):
            x1, y1, x2, y2 = f.box
            if min(x2 - x1, y2 - y1) >= min_px:
                out.append(Sample(image, f.label, "andrewmvd", f.box, f.name))
    return out


def load_andrewmvd(shared: Path, split: str, min_px: float = 0) -> list[Sample]:
    """Faces of split_train or split_val; the test split is refused."""
    if split not in ("train", "val"):
        raise ValueError(f"split {split!r}: only 'train' and 'val' may be used here")
    base = shared / "data" / "andrewmvd"
    stems = read_split(base, split)
    leaked = set(stems) & set(read_split(base, "test"))
    if leaked:
        raise ValueError(f"split_{split}.txt shares {len(leaked)} stems with split_test.txt")
    return andrewmvd_samples(base, stems, min_px)


def crop_files(shared: Path, part: str) -> list[tuple[Path, int]]:
    """(file, label) of data/crops: part 'val' is every 10th file per class, 'train' the rest."""
    out = []
    for folder, label in CROP_DIRS.items():
        files = sorted((shared / "data" / "crops" / folder).glob("*.jpg"))
        held = [i % CROPS_VAL_EVERY == 0 for i in range(len(files))]
        out += [(f, label) for f, h in zip(files, held, strict=True) if h == (part == "val")]
    return out


def load_crops(shared: Path, part: str) -> list[Sample]:
    """The ready face crops of one part ('train' or 'val')."""
    out = []
    for path, label in crop_files(shared, part):
        image = cv2.imread(str(path))
        if image is None:
            raise FileNotFoundError(path)
        out.append(Sample(image, label, "crops", kind=path.parent.name))
    return out


def augment(sample: Sample, rng: np.random.Generator) -> np.ndarray:
    """A jittered, flipped, degraded (down-scale, JPEG), re-lit BGR crop of one sample."""
    if sample.box is not None:
        x1, y1, x2, y2 = sample.box
        w, h = x2 - x1, y2 - y1
        dx, dy = rng.normal(0, 0.07, 2) * max(w, h)
        sw, sh = np.exp(rng.normal(0, 0.1, 2))
        cx, cy = (x1 + x2) / 2 + dx, (y1 + y2) / 2 + dy
        box = (cx - w * sw / 2, cy - h * sh / 2, cx + w * sw / 2, cy + h * sh / 2)
        crop = square_crop(sample.image, box, float(rng.uniform(1.05, 1.4)))
    else:
        h, w = sample.image.shape[:2]
        f = rng.uniform(0.8, 1.0)
        ch, cw = max(1, int(h * f)), max(1, int(w * f))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = sample.image[y : y + ch, x : x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = np.ascontiguousarray(crop)
    side = max(crop.shape[:2])
    if rng.random() < (0.3 if sample.box is not None else 0.75) and side > 8:
        target = math.exp(rng.uniform(math.log(8), math.log(min(side, INPUT_SIZE))))
        scale = target / side
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        interp = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_NEAREST)[int(rng.integers(0, 3))]
        crop = cv2.resize(crop, size, interpolation=interp)
    if rng.random() < 0.5:
        quality = int(rng.integers(20, 91))
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        crop = crop if decoded is None else decoded
    if rng.random() < 0.8:
        pix = crop.astype(np.float32)
        mean = float(pix.mean())
        pix = (pix - mean) * rng.uniform(0.6, 1.4) + mean + rng.uniform(-40, 40)
        crop = np.clip(pix * rng.uniform(0.9, 1.1, 3), 0, 255).astype(np.uint8)
    if rng.random() < 0.1:
        crop = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return crop


def to_input(crop: np.ndarray) -> np.ndarray:
    """BGR crop → (3, 64, 64) float32, RGB / 255: exactly what MaskClassifier feeds."""
    resized = cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE))
    return to_tensor(resized, color="rgb", mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0))[0]


def eval_crop(sample: Sample) -> np.ndarray:
    """The crop the deployed detector would cut for this sample (no augmentation)."""
    return sample.image if sample.box is None else square_crop(sample.image, sample.box)


def metrics(labels: np.ndarray, preds: np.ndarray) -> dict[str, float]:
    """Accuracy, per-class recall and their mean (balanced accuracy)."""
    out = {"n": float(len(labels)), "accuracy": float((labels == preds).mean())}
    for i, name in enumerate(LABELS):
        mask = labels == i
        out[f"recall_{name}"] = float((preds[mask] == i).mean()) if mask.any() else float("nan")
    out["balanced_accuracy"] = float(np.mean([out[f"recall_{n}"] for n in LABELS]))
    return out


def onnx_report(path: Path, val: list[Sample], crops_val: list[Sample]) -> dict[str, object]:
    """Evaluate the exported file through the deployed MaskClassifier code path."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    spec = ModelSpec(
        name=MODEL_NAME,
        file=path.name,
        sha256=digest,
        adapter="classifier",
        input_width=INPUT_SIZE,
        input_height=INPUT_SIZE,
        labels=["mask", "no_mask"],
        color="rgb",
        mean=(0, 0, 0),
        std=(255, 255, 255),
        scores_are_logits=True,
        license="MIT",
        source="",
    )
    clf = MaskClassifier(spec, make_session(path, RuntimeConfig()))
    report: dict[str, object] = {"file": str(path), "bytes": path.stat().st_size, "sha256": digest}
    for key, samples in (("andrewmvd_val", val), ("crops_val", crops_val)):
        labels = np.array([s.label for s in samples])
        preds = clf.probabilities([eval_crop(s) for s in samples]).argmax(1)
        report[key] = metrics(labels, preds)
        if key == "andrewmvd_val":
            boxes = np.array([s.box for s in samples if s.box is not None]).reshape(-1, 4)
            sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
            for lo, hi in SIZE_BUCKETS:
                sel = (sides >= lo) & (sides < hi)
                report[f"andrewmvd_val_{lo}-{hi}px"] = metrics(labels[sel], preds[sel])
        for kind in sorted({s.kind for s in samples}):
            sel = np.array([s.kind == kind for s in samples])
            report[f"{key}_{kind}_correct"] = f"{(preds[sel] == labels[sel]).sum()}/{sel.sum()}"
    return report
