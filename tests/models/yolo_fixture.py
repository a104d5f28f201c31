"""Build a real YOLO-layout ONNX model for tests: the AIZOO SSD with its box decoding in-graph.

The result has one output (1, 4 + 2, N) — cxcywh in input pixels, then sigmoid class scores —
the transposed layout YOLOv8 exports use. Its detections must equal the SSD adapter's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.anchors import SsdAnchors, generate_anchors
from models.spec import ModelSpec


def build_yolo_from_ssd(ssd_path: Path, spec: ModelSpec, out: Path) -> Path:
    """Write `out`: the SSD graph plus decode → concat → transpose nodes."""
    import onnx
    from onnx import helper, numpy_helper

    grid = spec.options_as(SsdAnchors)
    assert spec.input_width and spec.input_height
    anchors = generate_anchors(grid)
    size = np.array([spec.input_width, spec.input_height], np.float32)
    a_ctr = ((anchors[:, :2] + anchors[:, 2:]) / 2 * size)[None].astype(np.float32)
    a_wh = ((anchors[:, 2:] - anchors[:, :2]) * size)[None].astype(np.float32)
    var = grid.variances
    model = onnx.load(str(ssd_path))
    g = model.graph
    consts = {
        "y_actr": a_ctr,
        "y_awh": a_wh,
        "y_var_xy": np.array(var[:2], np.float32),
        "y_var_wh": np.array(var[2:], np.float32),
        "y_s0": np.array([0], np.int64),
        "y_s2": np.array([2], np.int64),
        "y_s4": np.array([4], np.int64),
        "y_ax": np.array([2], np.int64),
    }
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    nodes = [
        helper.make_node("Slice", ["loc", "y_s0", "y_s2", "y_ax"], ["y_dxy"]),
        helper.make_node("Slice", ["loc", "y_s2", "y_s4", "y_ax"], ["y_dwh"]),
        helper.make_node("Mul", ["y_dxy", "y_var_xy"], ["y_dxy_v"]),
        helper.make_node("Mul", ["y_dxy_v", "y_awh"], ["y_dxy_px"]),
        helper.make_node("Add", ["y_dxy_px", "y_actr"], ["y_ctr"]),
        helper.make_node("Mul", ["y_dwh", "y_var_wh"], ["y_dwh_v"]),
        helper.make_node("Exp", ["y_dwh_v"], ["y_ewh"]),
        helper.make_node("Mul", ["y_ewh", "y_awh"], ["y_wh"]),
        helper.make_node("Concat", ["y_ctr", "y_wh", "cls"], ["y_rows"], axis=2),
        helper.make_node("Transpose", ["y_rows"], ["output0"], perm=[0, 2, 1]),
    ]
    g.node.extend(nodes)
    while len(g.output):
        g.output.pop()
    g.output.append(helper.make_tensor_value_info("output0", onnx.TensorProto.FLOAT, None))
    onnx.save(model, str(out))
    return out
