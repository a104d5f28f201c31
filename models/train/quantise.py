"""Static INT8 quantisation (onnxruntime, QDQ, per-channel weights) calibrated on training images.

Only the convolutional body is quantised; the softmax and box decoding at the end stay float,
so scores and box coordinates keep their precision.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from models.preprocess import fit, to_tensor
from models.train.export import MEAN, STD

# Node-name prefixes (from the exporter's module scopes) of the part that is quantised.
BODY_PREFIXES = (
    "/net/base_net",
    "/net/extras",
    "/net/classification_headers",
    "/net/regression_headers",
)
QUANTISED_OPS = ("Conv", "Relu", "Add", "Concat")
# Left float: the 3-channel stem runs slower in INT8 than in float on x86 (measured).
KEEP_FLOAT_PREFIXES: tuple[str, ...] = ("/net/base_net.0/",)


class ImageReader(CalibrationDataReader):
    """Feeds preprocessed images, one at a time, to the calibrator."""

    def __init__(self, images: Iterable[np.ndarray], *, width: int, height: int) -> None:
        self._feeds: Iterator[dict[str, np.ndarray]] = (
            {
                "input": to_tensor(
                    fit(img, width=width, height=height, mode="plain")[0],
                    color="rgb",
                    mean=MEAN,
                    std=STD,
                )
            }
            for img in images
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def body_nodes(
    model: onnx.ModelProto, keep_float: tuple[str, ...] = KEEP_FLOAT_PREFIXES
) -> tuple[list[str], list[str]]:
    """(names to quantise, names to leave float) by module scope."""
    inside, outside = [], []
    for node in model.graph.node:
        body = node.name.startswith(BODY_PREFIXES) and not node.name.startswith(keep_float)
        if body and node.op_type in QUANTISED_OPS:
            inside.append(node.name)
        else:
            outside.append(node.name)
    return inside, outside


def quantise(
    float_path: Path,
    out_path: Path,
    calibration_images: Iterable[np.ndarray],
    *,
    width: int,
    height: int,
    method: str = "percentile",
    keep_float: tuple[str, ...] = KEEP_FLOAT_PREFIXES,
) -> Path:
    """Write an INT8 (QDQ) copy of `float_path` calibrated on the given BGR images."""
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        _, outside = body_nodes(onnx.load(str(prepared)), keep_float)
        quantize_static(
            str(prepared),
            str(out_path),
            ImageReader(calibration_images, width=width, height=height),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=list(QUANTISED_OPS),
            nodes_to_exclude=outside,
            calibrate_method=methods[method],
            extra_options={"CalibPercentile": 99.999} if method == "percentile" else {},
        )
    return out_path
