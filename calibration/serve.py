"""`siaga calibrate serve`: a local web page to draw zones, label faces and save a calibration.

The technician opens the page on the box (bound to 127.0.0.1 by default; reach it through an
SSH tunnel), sees the snapshot(s) with the faces the model finds, draws include/exclude zones,
labels faces and saves. Images and faces never leave the box: the page loads nothing from
outside and the server only answers on the address it was given. Standard library only, so it
runs on an edge install without the central extras.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import cv2
from pydantic import ValidationError

from agent.calibration_file import CALIBRATION_SCHEMA, CalibrationFile
from calibration.fit import (
    CLASSES,
    MIN_LABELS_PER_CLASS,
    VERDICTS,
    ClassFit,
    Label,
    NotEnoughLabels,
    confusion_at,
    fit_thresholds,
)
from calibration.label_store import StoredLabel, attach, labels_path, read_store, write_store
from calibration.labels_io import write_calibration
from calibration.report import UNRELIABLE_FACE_PX
from models.adapters import Adapter
from models.detections import LABEL_NAMES

STATIC: Final = Path(__file__).with_name("static")
IMAGE_SUFFIXES: Final = (".jpg", ".jpeg", ".png", ".bmp")
# Detections are shown down to this score so that low-scoring ones can be labelled too: the fit
# can only choose thresholds among scores it has labels for.
LABEL_FLOOR: Final = 0.2
MAX_BODY: Final = 1 << 20


class BadRequest(ValueError):
    """A save request the server refuses (400), with a message for the technician."""


def snapshot_images(path: Path) -> list[Path]:
    """One image, or the images of a folder (sorted); OSError when there are none."""
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if found:
            return found
        raise OSError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    raise OSError(f"{path}: no such file or folder")


@dataclass
class Snapshot:
    """One image: its file, size, JPEG bytes and the model's detections on it."""

    path: Path
    width: int
    height: int
    jpeg: bytes
    faces: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ServeState:
    """What the server knows: the snapshots, their detections and where to save."""

    snapshots: list[Snapshot]
    camera_id: str | None
    out: Path | None
    model_name: str
    model_conf: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Labels of earlier sessions: on a current face, and those whose face is not here.
    placed: dict[tuple[int, int], str] = field(default_factory=dict)
    carried: list[StoredLabel] = field(default_factory=list)

    @classmethod
    def build(
        cls, images: Sequence[Path], detector: Adapter, *, camera_id: str | None, out: Path | None
    ) -> ServeState:
        """Read each image, run the detector on it at LABEL_FLOOR and keep the results."""
        snaps = []
        for path in images:
            image = cv2.imread(str(path))
            if image is None:
                raise OSError(f"{path}: not a readable image")
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            if not ok:
                raise OSError(f"{path}: cannot encode as JPEG")
            h, w = image.shape[:2]
            dets = detector.detect(image, conf=min(LABEL_FLOOR, detector.spec.conf_threshold))
            faces = [
                {
                    "box": [round(float(v), 1) for v in box],
                    "score": round(float(s), 4),
                    "predicted": LABEL_NAMES[int(lab)],
                    "size_px": round(float(max(box[2] - box[0], box[3] - box[1])), 1),
                }
                for box, s, lab in zip(dets.boxes, dets.scores, dets.labels, strict=True)
            ]
            snaps.append(Snapshot(path, w, h, bytes(buf), faces))
        state = cls(snaps, camera_id, out, detector.spec.name, float(detector.spec.conf_threshold))
        state.reload_labels()
        return state

    def labels_file(self, camera_id: str | None = None) -> Path | None:
        """Where labels are kept: beside the calibration file (None while it is unknown)."""
        camera = camera_id or self.camera_id
        out = self.out or (Path(f"{camera}.json") if camera else None)
        return None if out is None else labels_path(out)

    def reload_labels(self) -> None:
        """Read the labels an earlier session saved and put them back on their faces."""
        path = self.labels_file()
        if path is None:
            return
        try:
            stored = read_store(path)
        except ValueError as exc:
            raise OSError(f"cannot reload earlier labels: {exc}") from None
        images = [(s.path.name, s.faces) for s in self.snapshots]
        self.placed, self.carried = attach(stored, images)

    def snapshot_json(self) -> dict[str, Any]:
        """GET /api/snapshot."""
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        return {
            "images": [
                {"index": i, "name": s.path.name, "width": s.width, "height": s.height}
                for i, s in enumerate(self.snapshots)
            ],
            "camera_id": self.camera_id,
            "model": self.model_name,
            "model_conf": self.model_conf,
            "default_version": f"{today}a",
            "default_min_face_px": UNRELIABLE_FACE_PX,
            "min_labels_per_class": MIN_LABELS_PER_CLASS,
        }

    def faces_json(self) -> dict[str, Any]:
        """GET /api/faces."""
        return {
            "floor": LABEL_FLOOR,
            "model_conf": self.model_conf,
            "images": [
                {
                    "index": i,
                    "faces": [
                        f | {"truth": self.placed.get((i, j))} for j, f in enumerate(s.faces)
                    ],
                }
                for i, s in enumerate(self.snapshots)
            ],
            "carried_labels": len(self.carried),
        }

    def store_labels(self, body: Any) -> dict[str, Any]:
        """POST /api/labels: keep the labels given so far (no calibration file written)."""
        if not isinstance(body, dict) or set(body) - {"camera_id", "labels"}:
            raise BadRequest('the body must be {"camera_id"?, "labels": [...]}')
        camera_id = self._camera(body)
        given = self._labels(body.get("labels", []))
        path = self.labels_file(camera_id)
        assert path is not None  # a camera id is known here
        with self.lock:
            self._keep(path, given)
        return {"labels_path": str(path.resolve()), "labels": len(given),
                "carried_labels": len(self.carried)}  # fmt: skip

    def _keep(self, path: Path, given: list[tuple[int, int, StoredLabel]]) -> None:
        """Write the session's labels plus the carried ones; remember them (lock held)."""
        write_store(path, [s for _, _, s in given] + self.carried)
        self.placed = {(i, j): s.label.truth for i, j, s in given}

    def _camera(self, body: dict[str, Any]) -> str:
        camera_id = body.get("camera_id") or self.camera_id
        if not camera_id:
            raise BadRequest("camera_id is required (or start the server with --camera)")
        if self.camera_id is not None and camera_id != self.camera_id:
            raise BadRequest(f"camera_id must be {self.camera_id!r} (given with --camera)")
        return str(camera_id)

    def save(self, body: Any) -> dict[str, Any]:
        """POST /api/save: validate, fit if there are enough labels, write the file."""
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        known = {"camera_id", "version", "include_zones", "exclude_zones", "labels",
                 "min_face_px", "max_face_px", "notes"}  # fmt: skip
        unknown = sorted(set(body) - known)
        if unknown:
            raise BadRequest(f"unknown field(s): {', '.join(unknown)}")
        camera_id = self._camera(body)
        given = self._labels(body.get("labels", []))
        # Labels of earlier sessions on other snapshots count too.
        labels = [s.label for _, _, s in given] + [s.label for s in self.carried]
        data: dict[str, Any] = {
            "schema": CALIBRATION_SCHEMA,
            "version": body.get("version"),
            "camera_id": camera_id,
            "min_face_px": body.get("min_face_px"),
            "max_face_px": body.get("max_face_px"),
            "include_zones": _zones(body.get("include_zones"), "include_zones"),
            "exclude_zones": _zones(body.get("exclude_zones"), "exclude_zones"),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        counts = {c: sum(1 for lab in labels if lab.predicted == c) for c in CLASSES}
        fits: dict[str, ClassFit] | None = None
        try:
            fitted = fit_thresholds(labels)
        except NotEnoughLabels as exc:
            need = {c: max(0, MIN_LABELS_PER_CLASS - n) for c, n in counts.items()}
            fit_msg = f"{exc}; thresholds left at the model default ({self.model_conf})"
        else:
            fits = fitted
            need = dict.fromkeys(CLASSES, 0)
            data["thresholds"] = {c: round(f.threshold, 4) for c, f in fitted.items()}
            data["confusion"] = confusion_at(labels, data["thresholds"])  # None: dropped below
            fit_msg = "fitted: " + ", ".join(
                f"{c} p={f.precision:.2f} r={f.recall:.2f} on {f.labels_used} labels"
                + ("" if f.target_met else " (target precision not reachable)")
                for c, f in fitted.items()
            )
        notes = str(body.get("notes") or "")
        data["notes"] = (notes + "; " if notes else "") + f"siaga calibrate serve; {fit_msg}"
        data = {k: v for k, v in data.items() if v is not None}
        try:
            CalibrationFile.model_validate(data)
        except ValidationError as exc:
            raise BadRequest(_reasons(exc)) from None
        out = self.out or Path(f"{camera_id}.json")
        store = labels_path(out)
        with self.lock:
            write_calibration(out, data)
            self._keep(store, given)
        return {
            "path": str(out.resolve()),
            "labels_path": str(store.resolve()),
            "carried_labels": len(self.carried),
            "written": data,
            "fitted": fits is not None,
            "fit": {c: f.as_dict() for c, f in fits.items()} if fits else None,
            "labels_per_class": counts,
            "labels_needed": need,
            "message": fit_msg,
        }

    def _labels(self, raw: Any) -> list[tuple[int, int, StoredLabel]]:
        """[{"image", "face", "truth"}] → labels with the server's own score, class and box."""
        if not isinstance(raw, list):
            raise BadRequest("labels must be a list")
        out: list[tuple[int, int, StoredLabel]] = []
        seen: set[tuple[int, int]] = set()
        for n, item in enumerate(raw):
            if not isinstance(item, dict):
                raise BadRequest(f"labels[{n}] must be an object")
            image, face, truth = item.get("image"), item.get("face"), item.get("truth")
            if not isinstance(image, int) or not 0 <= image < len(self.snapshots):
                raise BadRequest(f"labels[{n}].image: no image {image!r}")
            faces = self.snapshots[image].faces
            if not isinstance(face, int) or not 0 <= face < len(faces):
                raise BadRequest(f"labels[{n}].face: image {image} has no face {face!r}")
            if truth not in VERDICTS:
                raise BadRequest(f"labels[{n}].truth must be one of {', '.join(VERDICTS)}")
            if (image, face) in seen:
                raise BadRequest(f"labels[{n}]: face {face} of image {image} labelled twice")
            seen.add((image, face))
            f = faces[face]
            label = Label(float(f["score"]), str(f["predicted"]), str(truth))
            x1, y1, x2, y2 = (float(v) for v in f["box"])
            stored = StoredLabel(label, self.snapshots[image].path.name, (x1, y1, x2, y2))
            out.append((image, face, stored))
        return out


def _zones(raw: Any, name: str) -> list[list[list[float]]] | None:
    """Zones as lists of [x, y] in 0..1; None (absent) when there are none."""
    if raw is None or raw == []:
        return None
    if not isinstance(raw, list):
        raise BadRequest(f"{name} must be a list of polygons")
    for i, poly in enumerate(raw):
        if not isinstance(poly, list) or len(poly) < 3:
            raise BadRequest(f"{name}[{i}]: a zone needs at least 3 points")
        for j, pt in enumerate(poly):
            ok = isinstance(pt, list | tuple) and len(pt) == 2
            if not ok or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in pt
            ):
                raise BadRequest(f"{name}[{i}][{j}]: a point is [x, y] with both between 0 and 1")
    return [[[float(x), float(y)] for x, y in poly] for poly in raw]


def _reasons(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
    )
