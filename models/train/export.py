"""Export a trained network to ONNX and describe it as a registry manifest entry."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch

from models.spec import ModelSpec
from models.train.net import LABELS, Deployable, HeadedNet

OPSET = 17
MEAN = (127.0, 127.0, 127.0)
STD = (128.0, 128.0, 128.0)
LICENSE = "MIT"
_TRAINED = (
    "Siaga: trained by models/train (python -m models.train.detector) on andrewmvd split_train "
    "and face crops"
)
SOURCES = {
    "v1": _TRAINED + ", starting from UltraFace RFB-640 masked-face weights (MIT)",
    "v2": _TRAINED + ", from random initialisation",
}


def export_onnx(net: HeadedNet, path: Path, *, width: int, height: int) -> Path:
    """Write the deployable graph (softmax scores + decoded boxes) with a dynamic batch axis."""
    model = Deployable(net.cpu().eval(), width, height).eval()
    dummy = torch.zeros(1, 3, height, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["input"],
            output_names=["scores", "boxes"],
            dynamic_axes={"input": {0: "batch"}, "scores": {0: "batch"}, "boxes": {0: "batch"}},
            do_constant_folding=True,
        )
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    return path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_entry(
    path: Path,
    *,
    width: int,
    height: int,
    description: str = "",
    conf: float = 0.4,
    arch: str = "v1",
) -> dict[str, Any]:
    """The [models.NAME] table for an exported file (UltraFace-style outputs)."""
    entry = _entry_without_file(width, height, description, conf, SOURCES[arch])
    return {"file": path.name, "sha256": sha256_file(path), **entry}


def _entry_without_file(
    width: int, height: int, description: str, conf: float, source: str = SOURCES["v1"]
) -> dict[str, Any]:
    return {
        "adapter": "ultraface",
        "input_width": width,
        "input_height": height,
        "labels": list(LABELS),
        "resize": "plain",
        "color": "rgb",
        "mean": list(MEAN),
        "std": list(STD),
        "conf_threshold": conf,
        "nms": "per_class",
        "nms_iou": 0.3,
        "license": LICENSE,
        "source": source,
        "description": description,
    }


def training_spec(*, width: int, height: int) -> ModelSpec:
    """The deployed preprocessing and decoding, for validation before any file exists."""
    entry = {
        **_entry_without_file(width, height, "", 0.5),
        "file": "unsaved.onnx",
        "sha256": "0" * 64,
    }
    return spec_for("training", entry)


def spec_for(name: str, entry: dict[str, Any]) -> ModelSpec:
    """Validate an entry exactly as the registry would."""
    return ModelSpec.model_validate({"name": name, **entry})


def toml_value(value: Any) -> str:
    """Render one TOML value (strings, numbers, lists of those)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def toml_table(name: str, entry: dict[str, Any]) -> str:
    """A `[models.NAME]` TOML table."""
    lines = [f"[models.{name}]"] + [f"{k} = {toml_value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


def write_sidecar(path: Path, name: str, entry: dict[str, Any]) -> Path:
    """<model>.toml beside the .onnx, so `load_detector(path)` finds its description."""
    sidecar = path.with_suffix(".toml")
    sidecar.write_text(toml_table(name, entry), encoding="utf-8")
    return sidecar
