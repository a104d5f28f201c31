"""UltraFace-style detectors: outputs already decoded (normalised xyxy boxes, softmax scores)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from models.adapters.base import SingleSessionAdapter, select_lazy, single_session
from models.detections import Detections
from models.family import Family, register
from models.preprocess import Transform
from models.spec import ModelSpec


class UltraFaceAdapter(SingleSessionAdapter):
    """Outputs: `scores` (1, A, C) over the manifest's labels, `boxes` (1, A, 4) in 0..1."""

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        super().__init__(spec, session)
        names = [o.name for o in session.get_outputs()]
        self.scores_index = names.index("scores") if "scores" in names else 0
        self.boxes_index = names.index("boxes") if "boxes" in names else 1
        self.scale = np.array([spec.input_width, spec.input_height] * 2, dtype=np.float32)

    def decode(self, outputs: list[np.ndarray], transform: Transform, conf: float) -> Detections:
        scores, boxes = outputs[self.scores_index][0], outputs[self.boxes_index][0]
        return select_lazy(
            scores,
            lambda rows: boxes[rows] * self.scale,
            self.class_columns,
            spec=self.spec,
            conf=conf,
            transform=transform,
        )


FAMILY = register(Family("ultraface", single_session(UltraFaceAdapter)))
