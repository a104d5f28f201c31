"""Two stages: YuNet finds faces, an ONNX classifier says mask / no_mask for each crop."""

from __future__ import annotations

import hashlib
import math

import cv2
import numpy as np
import onnxruntime as ort
from pydantic import Field

from models.adapters.base import Adapter, label_columns
from models.boxes import nms
from models.detections import Detections
from models.family import Family, Options, register
from models.preprocess import Transform, to_tensor
from models.registry import ModelError, Registry, ResolvedModel
from models.runtime import RuntimeConfig, make_session
from models.spec import ModelSpec

YUNET_STRIDES = (8, 16, 32)


class TwoStageOptions(Options):
    """A face detector and a mask classifier, both named entries of the registry (the
    manifest's [models.NAME.two_stage] table)."""

    face_model: str
    classifier: str
    face_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    crop_expand: float = Field(default=1.2, ge=1.0, le=3.0)


class YuNetFaces:
    """YuNet face detector run in onnxruntime: any input size, padded to a multiple of 32."""

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        self.spec = spec
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_names = [o.name for o in session.get_outputs()]

    def prepare(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Transform]:
        """Scale to fit the manifest's size (if set), pad right/bottom to a multiple of 32."""
        h, w = image_bgr.shape[:2]
        scale = 1.0
        if self.spec.input_width and self.spec.input_height:
            scale = min(self.spec.input_width / w, self.spec.input_height / h)
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        resized = image_bgr if scale == 1.0 else cv2.resize(image_bgr, (new_w, new_h))
        pad_w, pad_h = math.ceil(new_w / 32) * 32, math.ceil(new_h / 32) * 32
        canvas = np.zeros((pad_h, pad_w, 3), dtype=np.uint8)
        canvas[:new_h, :new_w] = resized
        tensor = to_tensor(canvas, color=self.spec.color, mean=self.spec.mean, std=self.spec.std)
        return tensor, Transform(new_w / w, new_h / h, orig_width=w, orig_height=h)

    def decode(
        self, outputs: dict[str, np.ndarray], height: int, width: int, threshold: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per stride: score = sqrt(cls * obj); box centre (col + dx) * s, size exp(d) * s."""
        all_boxes, all_scores = [], []
        for s in YUNET_STRIDES:
            rows, cols = height // s, width // s
            cls = np.clip(outputs[f"cls_{s}"][0, :, 0], 0, 1)
            obj = np.clip(outputs[f"obj_{s}"][0, :, 0], 0, 1)
            score = np.sqrt(cls * obj)
            keep = np.flatnonzero(score >= threshold)
            reg = outputs[f"bbox_{s}"][0, keep]
            r, c = np.divmod(keep, cols)
            assert len(cls) == rows * cols
            cx, cy = (c + reg[:, 0]) * s, (r + reg[:, 1]) * s
            bw, bh = np.exp(reg[:, 2]) * s, np.exp(reg[:, 3]) * s
            all_boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1))
            all_scores.append(score[keep])
        boxes = np.concatenate(all_boxes).astype(np.float32)
        scores = np.concatenate(all_scores).astype(np.float32)
        kept = nms(boxes, scores, self.spec.nms_iou)[: self.spec.max_detections]
        return boxes[kept], scores[kept]

    def faces(self, image_bgr: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Face boxes (original pixels) and scores."""
        tensor, transform = self.prepare(image_bgr)
        raw = self.session.run(self.output_names, {self.input_name: tensor})
        outputs = dict(zip(self.output_names, raw, strict=True))
        boxes, scores = self.decode(outputs, tensor.shape[2], tensor.shape[3], threshold)
        return transform.boxes_to_original(boxes), scores


def square_crops(image_bgr: np.ndarray, boxes: np.ndarray, expand: float) -> list[np.ndarray]:
    """Square crops around each box (xyxy), its longer side grown by `expand`, clipped."""
    h, w = image_bgr.shape[:2]
    out = []
    for x1, y1, x2, y2 in boxes:
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half = max(x2 - x1, y2 - y1, 2.0) * expand / 2
        xa, ya = int(max(0, cx - half)), int(max(0, cy - half))
        xb, yb = int(min(w, math.ceil(cx + half))), int(min(h, math.ceil(cy + half)))
        out.append(image_bgr[ya : max(yb, ya + 1), xa : max(xb, xa + 1)])
    return out


class MaskClassifier:
    """Any ONNX image classifier; the manifest names its output classes."""

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        assert spec.input_width and spec.input_height  # checked by ModelSpec
        self.spec = spec
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.columns = label_columns(spec.labels)
        batch = session.get_inputs()[0].shape[0]
        self.fixed_batch = batch if isinstance(batch, int) else None

    def probabilities(self, crops: list[np.ndarray]) -> np.ndarray:
        """(N, C) class probabilities for BGR crops, in the model's column order."""
        size = (self.spec.input_width or 0, self.spec.input_height or 0)
        tensors = [
            to_tensor(
                cv2.resize(c, size), color=self.spec.color, mean=self.spec.mean, std=self.spec.std
            )
            for c in crops
        ]
        step = self.fixed_batch or len(tensors)
        outs = [
            self.session.run(None, {self.input_name: np.concatenate(tensors[i : i + step])})[0]
            for i in range(0, len(tensors), step)
        ]
        logits = np.concatenate(outs).reshape(len(crops), -1)
        if not self.spec.scores_are_logits:
            return logits
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


class TwoStageAdapter(Adapter):
    """Faces from YuNet; label from the classifier; score = face score x class probability."""

    def __init__(self, spec: ModelSpec, faces: YuNetFaces, classifier: MaskClassifier) -> None:
        self.spec = spec
        self.options = spec.options_as(TwoStageOptions)
        self.face_detector = faces
        self.classifier = classifier

    def fingerprint(self) -> str:
        """sha256 over both parts' sha256: changes when either model changes."""
        parts = f"{self.face_detector.spec.sha256}:{self.classifier.spec.sha256}"
        return hashlib.sha256(parts.encode()).hexdigest()

    def crops(self, image_bgr: np.ndarray, boxes: np.ndarray) -> list[np.ndarray]:
        """Square crops around each face, grown by crop_expand, clipped to the image."""
        return square_crops(image_bgr, boxes, self.options.crop_expand)

    def detect(self, image_bgr: np.ndarray, *, conf: float | None = None) -> Detections:
        threshold = self.spec.conf_threshold if conf is None else conf
        boxes, face_scores = self.face_detector.faces(
            image_bgr, min(self.options.face_threshold, threshold)
        )
        if len(boxes) == 0:
            return Detections()
        probs = self.classifier.probabilities(self.crops(image_bgr, boxes))
        ids = np.fromiter(self.classifier.columns.keys(), dtype=np.int64)
        class_probs = probs[:, list(self.classifier.columns.values())]
        best = class_probs.argmax(axis=1)
        scores = face_scores * class_probs[np.arange(len(best)), best]
        keep = np.flatnonzero(scores >= threshold)
        keep = keep[np.argsort(-scores[keep], kind="stable")]  # best first, as every adapter
        both = class_probs[keep].astype(np.float32) if class_probs.shape[1] == 2 else None
        return Detections(
            boxes[keep].astype(np.float32),
            scores[keep].astype(np.float32),
            ids[best][keep],
            both,
        )


def build_two_stage(
    resolved: ResolvedModel, registry: Registry, runtime: RuntimeConfig
) -> TwoStageAdapter:
    """The two parts the entry names, each verified, in sessions of their own."""
    spec = resolved.spec
    options = spec.options_as(TwoStageOptions)
    face = registry.resolve(options.face_model)
    cls = registry.resolve(options.classifier)
    if face.spec.adapter != "yunet" or cls.spec.adapter != "classifier":
        raise ModelError(
            f"model {spec.name!r}: two_stage needs a 'yunet' face model and a 'classifier', "
            f"got {face.spec.adapter!r} and {cls.spec.adapter!r}"
        )
    assert face.path is not None and cls.path is not None
    return TwoStageAdapter(
        spec,
        YuNetFaces(face.spec, make_session(face.path, runtime)),
        MaskClassifier(cls.spec, make_session(cls.path, runtime)),
    )


def _parts(options: Options) -> tuple[str, ...]:
    assert isinstance(options, TwoStageOptions)
    return (options.face_model, options.classifier)


# The two components are not detectors on their own (no build): a two_stage entry names them.
YUNET = register(Family("yunet", fixed_input=False, needs_labels=False))
CLASSIFIER = register(Family("classifier"))
FAMILY = register(
    Family(
        "two_stage", build_two_stage, options=TwoStageOptions, options_required=True,
        one_file=False, fixed_input=False, needs_labels=False, parts=_parts,
    )
)  # fmt: skip
