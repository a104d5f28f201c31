"""Single-stage SSD with generated anchors (AIZOO face-mask models)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from models.adapters.base import SingleSessionAdapter, select_lazy, single_session
from models.anchors import SsdAnchors, decode_offsets, generate_anchors
from models.detections import Detections
from models.family import Family, register
from models.preprocess import Transform
from models.spec import ModelSpec


class SsdAnchorAdapter(SingleSessionAdapter):
    """Outputs `loc` (1, A, 4) offsets and `cls` (1, A, C) scores; anchors from the manifest."""

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        super().__init__(spec, session)
        self.grid = spec.options_as(SsdAnchors)  # required by the family (ModelSpec checks)
        self.anchors = generate_anchors(self.grid)
        self.scale = np.array([spec.input_width, spec.input_height] * 2, dtype=np.float32)
        names = [o.name for o in session.get_outputs()]
        self.loc_index = names.index("loc") if "loc" in names else 0
        self.cls_index = names.index("cls") if "cls" in names else 1
        expected = session.get_outputs()[self.loc_index].shape[1]
        if isinstance(expected, int) and expected != len(self.anchors):
            raise ValueError(
                f"model {spec.name!r}: {expected} anchors in the model, "
                f"{len(self.anchors)} generated from the manifest's [anchors]"
            )

    def decode(self, outputs: list[np.ndarray], transform: Transform, conf: float) -> Detections:
        loc, cls = outputs[self.loc_index][0], outputs[self.cls_index][0]
        variances = self.grid.variances

        def boxes_for(rows: np.ndarray) -> np.ndarray:
            return decode_offsets(loc[rows], self.anchors[rows], variances) * self.scale

        return select_lazy(
            cls, boxes_for, self.class_columns, spec=self.spec, conf=conf, transform=transform
        )


FAMILY = register(
    Family(
        "ssd_anchor", single_session(SsdAnchorAdapter), options=SsdAnchors, section="anchors",
        options_required=True,
    )
)  # fmt: skip
