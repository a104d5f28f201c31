"""The technician's labels on disk, kept across `siaga calibrate serve` sessions.

One JSON object a line beside the calibration file (`FILE.labels.jsonl`): the score, predicted
class and verdict that `siaga calibrate fit` reads, plus the snapshot's file name and the box,
so that a later session on the same snapshots shows each label on its face again. Labels whose
face is not among the current snapshots (other images, another model) are carried over: they
still count for the fit and are written back on every save.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from calibration.fit import Label

# A stored box matches a face of the current session when every corner is this close (px).
BOX_MATCH_PX: Final = 1.0


def labels_path(calibration_file: Path) -> Path:
    """Where the labels of a calibration file live."""
    return calibration_file.with_name(calibration_file.name + ".labels.jsonl")


@dataclass(frozen=True)
class StoredLabel:
    """One label with where it was given (image name and box; None in older files)."""

    label: Label
    image: str | None = None
    box: tuple[float, float, float, float] | None = None

    def to_json(self) -> dict[str, Any]:
        """The line written for this label."""
        out: dict[str, Any] = {
            "score": self.label.score,
            "predicted": self.label.predicted,
            "truth": self.label.truth,
        }
        if self.image is not None and self.box is not None:
            out["image"] = self.image
            out["box"] = list(self.box)
        return out


def _parse(obj: Any) -> StoredLabel:
    if not isinstance(obj, dict):
        raise TypeError("a label is a JSON object")
    label = Label(float(obj["score"]), str(obj["predicted"]), str(obj["truth"]))
    image, box = obj.get("image"), obj.get("box")
    if image is None or box is None:
        return StoredLabel(label)
    if not isinstance(image, str) or not isinstance(box, list) or len(box) != 4:
        raise ValueError("image must be a file name and box four numbers")
    x1, y1, x2, y2 = (float(v) for v in box)
    return StoredLabel(label, image, (x1, y1, x2, y2))


def read_store(path: Path) -> list[StoredLabel]:
    """The labels in `path` ([] when it does not exist); errors name the file and line."""
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(_parse(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: bad label: {exc}") from None
    return out


def write_store(path: Path, labels: Iterable[StoredLabel]) -> None:
    """Write all labels at once (a crash leaves the old file, never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(s.to_json()) + "\n" for s in labels), encoding="utf-8")
    os.replace(tmp, path)


def attach(
    stored: Sequence[StoredLabel], images: Sequence[tuple[str, Sequence[dict[str, Any]]]]
) -> tuple[dict[tuple[int, int], str], list[StoredLabel]]:
    """Put stored labels back on the current faces: ({(image, face): truth}, carried over).

    `images` is (file name, faces) per snapshot, each face with "box" and "predicted".
    """
    by_name: dict[str, int] = {}
    for i, (name, _) in enumerate(images):
        by_name.setdefault(name, i)
    placed: dict[tuple[int, int], str] = {}
    carried = []
    for s in stored:
        spot = None
        if s.image is not None and s.box is not None and s.image in by_name:
            i = by_name[s.image]
            for j, face in enumerate(images[i][1]):
                close = all(
                    abs(a - float(b)) <= BOX_MATCH_PX
                    for a, b in zip(s.box, face["box"], strict=True)
                )
                if close and face["predicted"] == s.label.predicted and (i, j) not in placed:
                    spot = (i, j)
                    break
        if spot is None:
            carried.append(s)
        else:
            placed[spot] = s.label.truth
    return placed, carried
