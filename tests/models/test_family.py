"""Model families register themselves: a new one is one class and one `register` call, and the
manifest validation and the loader (`load_detector`) take it from there."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import Field

from models import family
from models.adapters import Adapter
from models.detections import Detections
from models.detector import load_detector
from models.family import Family, Options, register
from models.registry import MANIFEST_NAME, ModelError, Registry, ResolvedModel
from models.runtime import RuntimeConfig
from models.spec import ModelSpec

# ---- the whole of a new family: what a file under models/adapters/ would hold ----


class ToyOptions(Options):
    """The family's options table, [models.NAME.toy]."""

    boxes: int = Field(ge=0, le=10)


class ToyAdapter(Adapter):
    """Reports `boxes` fixed boxes; needs no onnxruntime session."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.options = spec.options_as(ToyOptions)

    def detect(self, image_bgr: np.ndarray, *, conf: float | None = None) -> Detections:
        n = self.options.boxes
        return Detections(
            np.tile(np.array([[0, 0, 10, 10]], np.float32), (n, 1)),
            np.full(n, 0.9, np.float32),
            np.zeros(n, np.int64),
        )


def build_toy(resolved: ResolvedModel, registry: Registry, runtime: RuntimeConfig) -> ToyAdapter:
    return ToyAdapter(resolved.spec)


# ----


@pytest.fixture
def toy() -> Iterator[Family]:
    fam = register(Family("toy", build_toy, options=ToyOptions, options_required=True))
    yield fam
    family.unregister("toy")


def _manifest(d: Path, table: str) -> None:
    data = b"toy weights"
    (d / "toy.bin").write_bytes(data)
    (d / MANIFEST_NAME).write_text(f"""
[models.toy_model]
file = "toy.bin"
sha256 = "{hashlib.sha256(data).hexdigest()}"
adapter = "toy"
input_width = 32
input_height = 32
labels = ["mask", "no_mask"]
license = "MIT"
source = "test"
{table}
""")


def test_a_new_family_validates_and_loads_through_load_detector(
    toy: Family, tmp_path: Path
) -> None:
    _manifest(tmp_path, "[models.toy_model.toy]\nboxes = 3\n")
    reg = Registry([tmp_path])
    assert reg.names(detectors_only=True) == ["toy_model"]
    detector = load_detector("toy_model", registry=reg)
    assert isinstance(detector, ToyAdapter) and detector.options == ToyOptions(boxes=3)
    assert len(detector.detect(np.zeros((32, 32, 3), np.uint8))) == 3


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ("", r"adapter 'toy' needs an \[toy\] section"),
        ("[models.toy_model.toy]\nboxes = 11\n", r"models\.toy_model\.toy\.boxes"),
        ("[models.toy_model.toy]\nboxes = 1\nshape = 2\n", r"toy\.shape: Extra inputs"),
        ("[models.toy_model.anchors]\nratios = [1.0]\n", r"anchors: Extra inputs"),
    ],
)
def test_the_family_options_are_validated_with_the_manifest(
    toy: Family, tmp_path: Path, table: str, reason: str
) -> None:
    _manifest(tmp_path, table)
    with pytest.raises(ModelError, match=reason):
        Registry([tmp_path])


def test_an_unregistered_family_is_refused_by_name(tmp_path: Path) -> None:
    _manifest(tmp_path, "")
    with pytest.raises(ModelError, match=r"unknown adapter 'toy'; known: classifier, ssd_anchor"):
        Registry([tmp_path])


def test_every_adapter_file_registers_its_families() -> None:
    assert family.known() == ["classifier", "ssd_anchor", "two_stage", "ultraface", "yolo", "yunet"]
    detectors = {k for k in family.known() if family.get(k).detector}
    assert detectors == {"ssd_anchor", "two_stage", "ultraface", "yolo"}


def test_a_family_key_is_registered_once(toy: Family) -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register(Family("toy", build_toy))
