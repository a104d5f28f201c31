"""The adapter interface and the decoding steps every detector family shares."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
import onnxruntime as ort

from models.boxes import batched_nms, nms
from models.detections import LABEL_NAMES, Detections
from models.preprocess import Transform, image_to_tensor
from models.registry import Registry, ResolvedModel
from models.runtime import RuntimeConfig, make_session
from models.spec import ModelSpec

# Candidates kept before NMS: bounds NMS cost at very low thresholds (evaluation).
PRE_NMS_TOP_K = 3000
# One input buffer per thread and shape: a box's cameras share one detector from their own
# threads, and a fresh 3.7 MB tensor per inferred frame cost page faults on every frame.
_buffers = threading.local()


def input_buffer(shape: tuple[int, ...]) -> np.ndarray:
    """This thread's reusable float32 buffer of `shape` (valid until its next use here)."""
    bufs: dict[tuple[int, ...], np.ndarray] | None = getattr(_buffers, "by_shape", None)
    if bufs is None:
        bufs = _buffers.by_shape = {}
    buf = bufs.get(shape)
    if buf is None:
        buf = bufs[shape] = np.empty(shape, dtype=np.float32)
    return buf


class Adapter(ABC):
    """A model family: image in, mask / no_mask detections in original pixels out."""

    spec: ModelSpec

    @abstractmethod
    def detect(self, image_bgr: np.ndarray, *, conf: float | None = None) -> Detections:
        """Detect faces in one BGR image; `conf` overrides the manifest threshold."""

    def detect_staged(
        self, image_bgr: np.ndarray, *, conf: float | None = None
    ) -> tuple[Detections, float]:
        """`detect`, and the calling thread's CPU seconds spent preparing the model's input
        (agent/stagecpu.py); 0 where a family does not tell its preparation apart."""
        return self.detect(image_bgr, conf=conf), 0.0

    def fingerprint(self) -> str:
        """sha256 identifying exactly the weights in use (reported with every count)."""
        assert self.spec.sha256 is not None  # only two-stage entries lack one; they override
        return self.spec.sha256


class SingleSessionAdapter(Adapter):
    """Families run as prepare → one session.run → decode."""

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        self.spec = spec
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.class_columns = label_columns(spec.labels)

    def prepare(
        self, image_bgr: np.ndarray, *, reuse: bool = False
    ) -> tuple[dict[str, np.ndarray], Transform]:
        """Resize and normalise as the manifest says; returns session feeds and the transform.
        `reuse`: into this thread's buffer (`input_buffer`), overwritten by its next call."""
        spec = self.spec
        assert spec.input_width and spec.input_height  # checked by ModelSpec
        out = input_buffer((1, 3, spec.input_height, spec.input_width)) if reuse else None
        tensor, transform = image_to_tensor(
            image_bgr, width=spec.input_width, height=spec.input_height, mode=spec.resize,
            color=spec.color, mean=spec.mean, std=spec.std, out=out,
        )  # fmt: skip
        return {self.input_name: tensor}, transform

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The bare inference call."""
        return list(self.session.run(None, feeds))

    @abstractmethod
    def decode(self, outputs: list[np.ndarray], transform: Transform, conf: float) -> Detections:
        """Raw outputs → detections in original pixels."""

    def detect(self, image_bgr: np.ndarray, *, conf: float | None = None) -> Detections:
        return self.detect_staged(image_bgr, conf=conf)[0]

    def detect_staged(
        self, image_bgr: np.ndarray, *, conf: float | None = None
    ) -> tuple[Detections, float]:
        start = time.thread_time()
        feeds, transform = self.prepare(image_bgr, reuse=True)
        prepared = time.thread_time() - start
        threshold = self.spec.conf_threshold if conf is None else conf
        return self.decode(self.run(feeds), transform, threshold), prepared


def single_session(
    cls: type[SingleSessionAdapter],
) -> Callable[[ResolvedModel, Registry, RuntimeConfig], Adapter]:
    """A family's `build` for an adapter run on one verified file in one session."""

    def build(resolved: ResolvedModel, registry: Registry, runtime: RuntimeConfig) -> Adapter:
        assert resolved.path is not None  # a one-file family's entry names its file
        return cls(resolved.spec, make_session(resolved.path, runtime))

    return build


def label_columns(labels: Sequence[str]) -> dict[int, int]:
    """Map our label ids to the model's output columns (mask → i, no_mask → j)."""
    return {lid: labels.index(name) for lid, name in enumerate(LABEL_NAMES) if name in labels}


def above(
    class_scores: np.ndarray, columns: list[int], conf: float
) -> tuple[np.ndarray, np.ndarray]:
    """`np.nonzero(class_scores[:, columns] >= conf)`: (row, position in `columns`) pairs in the
    same row-major order, found column by column on views of the scores. A 2-D nonzero over
    every anchor cost 110 µs a frame against 30 µs this way (issue 18), for the handful of
    anchors that pass."""
    found = [np.flatnonzero(class_scores[:, col] >= conf) for col in columns]
    if not found:  # a model with none of our labels
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = np.concatenate(found)
    cols = np.repeat(np.arange(len(columns)), [len(f) for f in found])
    order = np.lexsort((cols, rows))  # by row, then column, as nonzero gives them
    return rows[order], cols[order]


def select_lazy(
    class_scores: np.ndarray,
    boxes_for: Callable[[np.ndarray], np.ndarray],
    columns: dict[int, int],
    *,
    spec: ModelSpec,
    conf: float,
    transform: Transform,
) -> Detections:
    """Threshold, decode the survivors' boxes, NMS, map to original pixels.

    `class_scores` (N, C) are in the model's column order; `boxes_for(rows)` returns xyxy boxes
    in model-input pixels for those rows only, so box decoding costs nothing for the thousands
    of anchors below the threshold. Class-agnostic mode keeps the best of mask / no_mask per box
    (one face, one label); per-class mode lets each class column stand alone, NMS per class.
    """
    ids = np.fromiter(columns.keys(), dtype=np.int64)
    where = np.fromiter(columns.values(), dtype=np.int64)  # our label order → model columns
    if spec.nms == "class_agnostic":
        scores = class_scores[:, where]
        best = scores.argmax(axis=1)
        rows = np.flatnonzero(scores[np.arange(len(scores)), best] >= conf)
        cols = best[rows]
    else:
        rows, cols = above(class_scores, list(where), conf)
    cand_scores = class_scores[rows, where[cols]]
    if len(cand_scores) > PRE_NMS_TOP_K:
        top = np.argpartition(-cand_scores, PRE_NMS_TOP_K)[:PRE_NMS_TOP_K]
        rows, cols, cand_scores = rows[top], cols[top], cand_scores[top]
    cand_labels = ids[cols]
    cand_boxes = boxes_for(rows).astype(np.float32)
    if spec.nms == "class_agnostic":
        kept = nms(cand_boxes, cand_scores, spec.nms_iou)
    else:
        kept = batched_nms(cand_boxes, cand_scores, cand_labels, spec.nms_iou)
    kept = kept[: spec.max_detections]
    # Both classes' probabilities for each kept box, where the model has both columns.
    probs = class_scores[rows[kept]][:, where].astype(np.float32) if len(columns) == 2 else None
    return Detections(
        transform.boxes_to_original(cand_boxes[kept]),
        cand_scores[kept].astype(np.float32),
        cand_labels[kept].astype(np.int64),
        probs,
    )


def select(
    boxes: np.ndarray,
    class_scores: np.ndarray,
    columns: dict[int, int],
    *,
    spec: ModelSpec,
    conf: float,
    transform: Transform,
) -> Detections:
    """`select_lazy` for boxes already decoded (xyxy, model-input pixels)."""
    return select_lazy(
        class_scores, lambda rows: boxes[rows], columns, spec=spec, conf=conf, transform=transform
    )
