"""Training data: PASCAL-VOC scenes and face-crop folders, held in memory as JPEG bytes.

A `DataPack` is everything one training run reads. It is built from `$SIAGA_SHARED/data`
(andrewmvd split_train / split_val and the crops folders) or loaded from a pack file written
by `python -m models.train.pack` (for machines without ../shared, such as a rented GPU).
split_test is never read here.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from models.detections import MASK
from models.evaluate import find_image
from models.voc import GroundTruth, parse_voc, read_split

# Training label ids: column indices of net.LABELS ("background", "no_mask", "mask").
NO_MASK_ID = 1
MASK_ID = 2
CROP_FOLDERS = {"with_mask": MASK_ID, "without_mask": NO_MASK_ID}
PACK_VERSION = 3
# A face finder returns the face box (xyxy, crop pixels) in a crop, or None when it sees none.
FaceFinder = Callable[[np.ndarray], tuple[float, float, float, float] | None]


@dataclass
class Scene:
    """One annotated image: JPEG bytes and its ground truth as the evaluator reads it."""

    stem: str
    jpeg: bytes
    truth: GroundTruth

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) xyxy pixel boxes, float32."""
        return self.truth.boxes

    def image(self) -> np.ndarray:
        """Decode to a BGR uint8 array."""
        return decode_jpeg(self.jpeg)

    def labels(self) -> np.ndarray:
        """Training label ids: masks are `mask`; everything else, incorrectly worn masks (which
        the evaluator ignores) included, is `no_mask`."""
        return np.where(self.truth.labels == MASK, MASK_ID, NO_MASK_ID).astype(np.int64)


@dataclass
class Crop:
    """One face crop (BGR JPEG bytes), its training label id and the face box inside it."""

    jpeg: bytes
    label: int
    box: tuple[float, float, float, float]  # xyxy pixels within the (stored) crop


@dataclass
class DataPack:
    """Scenes for training and for model selection, plus face crops for copy-paste."""

    train: list[Scene] = field(default_factory=list)
    val: list[Scene] = field(default_factory=list)
    crops: list[Crop] = field(default_factory=list)
    # Starting weights carried inside a pack (for machines without ../shared/models).
    init_weights: dict[str, np.ndarray] = field(default_factory=dict)


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG/PNG bytes → BGR uint8 image."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("undecodable image bytes")
    return img


def encode_jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    """BGR uint8 image → JPEG bytes."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def shared_root() -> Path:
    """$SIAGA_SHARED, else ../shared beside the repository root."""
    env = os.environ.get("SIAGA_SHARED")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2].parent / "shared"


def load_scenes(root: Path, split: str) -> list[Scene]:
    """Scenes of one split of a VOC folder (images/, annotations/, split_<name>.txt)."""
    if split == "test":
        raise ValueError("split_test is for the final evaluation only, never for training")
    scenes = []
    for stem in read_split(root / f"split_{split}.txt"):
        truth = parse_voc(root / "annotations" / f"{stem}.xml")
        path = find_image(root / "images", truth, stem)
        if path is None:
            raise FileNotFoundError(f"no image for {stem!r} in {root / 'images'}")
        scenes.append(Scene(stem, path.read_bytes(), truth))
    return scenes


def crop_box(
    image: np.ndarray, finder: FaceFinder | None, *, tight: float = 0.25, least: float = 0.04
) -> tuple[float, float, float, float] | None:
    """The face box of a crop: the whole crop when the face fills it, the found face when the
    crop shows more (a whole person, a street), None when no usable face is found."""
    h, w = image.shape[:2]
    whole = (0.0, 0.0, float(w), float(h))
    if finder is None:
        return whole
    found = finder(image)
    if found is None:
        return None
    x1, y1, x2, y2 = max(0.0, found[0]), max(0.0, found[1]), min(w, found[2]), min(h, found[3])
    share = max(0.0, x2 - x1) * max(0.0, y2 - y1) / (w * h)
    if share >= tight:
        return whole
    return (x1, y1, x2, y2) if share >= least else None


def load_crops(
    root: Path,
    *,
    max_per_class: int | None = None,
    max_side: int = 96,
    finder: FaceFinder | None = None,
) -> list[Crop]:
    """Face crops from <root>/with_mask and <root>/without_mask, shrunk to `max_side`."""
    crops = []
    for folder, label in CROP_FOLDERS.items():
        files = sorted((root / folder).glob("*.jpg")) + sorted((root / folder).glob("*.png"))
        for path in files[:max_per_class]:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None or min(img.shape[:2]) < 12:
                continue
            scale = max_side / max(img.shape[:2])
            if scale < 1:
                img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            box = crop_box(img, finder)
            if box is not None:
                crops.append(Crop(encode_jpeg(img, 90), label, box))
    return crops


def build_pack(
    shared: Path, *, crops_per_class: int | None = None, finder: FaceFinder | None = None
) -> DataPack:
    """Read split_train, split_val and the face crops from a shared data folder."""
    voc = shared / "data" / "andrewmvd"
    crops_dir = shared / "data" / "crops"
    crops = (
        load_crops(crops_dir, max_per_class=crops_per_class, finder=finder)
        if crops_dir.is_dir()
        else []
    )
    return DataPack(load_scenes(voc, "train"), load_scenes(voc, "val"), crops)


def save_pack(pack: DataPack, path: Path) -> None:
    """Write a pack file (pickle of plain bytes and arrays; our own data only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump({"version": PACK_VERSION, "pack": pack}, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load_pack(path: Path) -> DataPack:
    """Read a pack file written by save_pack."""
    with open(path, "rb") as fh:
        data = pickle.load(fh)
    if data.get("version") != PACK_VERSION:
        raise ValueError(f"{path}: pack version {data.get('version')}, expected {PACK_VERSION}")
    pack: DataPack = data["pack"]
    return pack
