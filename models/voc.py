"""PASCAL-VOC annotations → ground truth with mask / no_mask labels and ignored boxes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.detections import MASK, NO_MASK

# Label names seen in public face-mask sets. "ignore" boxes count neither as hit nor miss.
LABEL_ALIASES: dict[str, int | None] = {
    "with_mask": MASK,
    "mask": MASK,
    "masked": MASK,
    "without_mask": NO_MASK,
    "no_mask": NO_MASK,
    "nomask": NO_MASK,
    "mask_weared_incorrect": None,
    "mask_worn_incorrectly": None,
    "incorrect_mask": None,
}


class AnnotationError(ValueError):
    """An annotation file cannot be read; the message names the file and the reason."""


@dataclass(frozen=True)
class GroundTruth:
    """One image's boxes (xyxy pixels), label ids (-1 where ignored) and ignore flags."""

    image: str
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    ignore: np.ndarray

    def count(self, label: int) -> int:
        """Number of non-ignored boxes with this label."""
        return int(np.count_nonzero((self.labels == label) & ~self.ignore))


def parse_voc(path: Path) -> GroundTruth:
    """Read one VOC XML file; `difficult` and incorrectly-worn-mask boxes are ignored."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise AnnotationError(f"{path}: cannot parse: {exc}") from exc
    boxes, labels, ignore = [], [], []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip().lower()
        if name not in LABEL_ALIASES:
            raise AnnotationError(
                f"{path}: unknown label {name!r}; known: {', '.join(sorted(LABEL_ALIASES))}"
            )
        bb = obj.find("bndbox")
        if bb is None:
            raise AnnotationError(f"{path}: object {name!r} has no bndbox")
        try:
            box = [float(bb.findtext(k) or "nan") for k in ("xmin", "ymin", "xmax", "ymax")]
        except ValueError as exc:
            raise AnnotationError(f"{path}: bad bndbox for {name!r}: {exc}") from exc
        label = LABEL_ALIASES[name]
        boxes.append(box)
        labels.append(-1 if label is None else label)
        ignore.append(label is None or (obj.findtext("difficult") or "0").strip() == "1")
    filename = root.findtext("filename") or path.with_suffix(".jpg").name
    return GroundTruth(
        image=filename.strip(),
        width=int(float(root.findtext("size/width") or 0)),
        height=int(float(root.findtext("size/height") or 0)),
        boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        labels=np.asarray(labels, dtype=np.int64),
        ignore=np.asarray(ignore, dtype=bool),
    )


def read_split(path: Path) -> list[str]:
    """Image stems listed one per line (blank lines and # comments skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.startswith("#")]
