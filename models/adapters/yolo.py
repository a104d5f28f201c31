"""Generic YOLO-style exports: one output of boxes (input pixels) and per-class scores."""

from __future__ import annotations

from typing import Literal

import numpy as np
import onnxruntime as ort

from models.adapters.base import SingleSessionAdapter, select_lazy, single_session
from models.boxes import cxcywh_to_xyxy
from models.detections import Detections
from models.family import Family, Options, register
from models.preprocess import Transform
from models.spec import ModelSpec


class YoloOptions(Options):
    """Layout of a YOLO-style export: one output of boxes and class scores (the manifest's
    optional [models.NAME.yolo] table)."""

    objectness: bool = False
    box_format: Literal["cxcywh", "xyxy"] = "cxcywh"
    scores: Literal["sigmoid_applied", "logits"] = "sigmoid_applied"


class YoloAdapter(SingleSessionAdapter):
    """Output (1, N, 4[+1]+C) or transposed (1, 4[+1]+C, N), as YOLOv5/v8 exports write it."""

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        super().__init__(spec, session)
        self.options = spec.options_as(YoloOptions)  # the defaults when the table is absent
        self.width = 4 + int(self.options.objectness) + len(spec.labels)

    def rows(self, raw: np.ndarray) -> np.ndarray:
        """Bring the output to (N, width) whichever way round it was exported."""
        out = raw[0] if raw.ndim == 3 else raw
        if out.shape[-1] == self.width:
            return out
        if out.shape[0] == self.width:
            return out.T
        raise ValueError(
            f"model {self.spec.name!r}: output shape {raw.shape} has no axis of "
            f"{self.width} (4 box values{' + objectness' if self.options.objectness else ''}"
            f" + {len(self.spec.labels)} classes)"
        )

    def decode(self, outputs: list[np.ndarray], transform: Transform, conf: float) -> Detections:
        rows = self.rows(outputs[0])
        start = 5 if self.options.objectness else 4
        scores = rows[:, start:]
        if self.options.scores == "logits":
            scores = 1.0 / (1.0 + np.exp(-scores))
        if self.options.objectness:
            obj = rows[:, 4:5]
            scores = scores * (obj if self.options.scores != "logits" else 1 / (1 + np.exp(-obj)))
        cxcywh = self.options.box_format == "cxcywh"

        def boxes_for(keep: np.ndarray) -> np.ndarray:
            return cxcywh_to_xyxy(rows[keep, :4]) if cxcywh else rows[keep, :4]

        return select_lazy(
            scores, boxes_for, self.class_columns, spec=self.spec, conf=conf, transform=transform
        )


FAMILY = register(Family("yolo", single_session(YoloAdapter), options=YoloOptions))
