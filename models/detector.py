"""Build a ready detector from a registry name or a model file."""

from __future__ import annotations

from models.adapters import (
    Adapter,
    MaskClassifier,
    SingleSessionAdapter,
    SsdAnchorAdapter,
    TwoStageAdapter,
    UltraFaceAdapter,
    YoloAdapter,
    YuNetFaces,
)
from models.registry import ModelError, Registry, ResolvedModel
from models.runtime import RuntimeConfig, make_session

DEFAULT_MODEL = "siaga_facemask_v1"

_SINGLE: dict[str, type[SingleSessionAdapter]] = {
    "ssd_anchor": SsdAnchorAdapter,
    "ultraface": UltraFaceAdapter,
    "yolo": YoloAdapter,
}


def build_adapter(resolved: ResolvedModel, registry: Registry, runtime: RuntimeConfig) -> Adapter:
    """Instantiate the adapter the manifest's `adapter` key names."""
    spec = resolved.spec
    if spec.adapter in _SINGLE:
        assert resolved.path is not None  # every non-two-stage spec names a file
        return _SINGLE[spec.adapter](spec, make_session(resolved.path, runtime))
    if spec.adapter == "two_stage":
        assert spec.two_stage is not None
        face = registry.resolve(spec.two_stage.face_model)
        cls = registry.resolve(spec.two_stage.classifier)
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
    raise ModelError(
        f"model {spec.name!r} is a {spec.adapter!r} component, not a detector on its own; "
        "use a two_stage entry that names it"
    )


def load_detector(
    model: str = DEFAULT_MODEL,
    *,
    runtime: RuntimeConfig | None = None,
    registry: Registry | None = None,
) -> Adapter:
    """A detector for a registry name or an .onnx path, sha256-verified."""
    reg = registry or Registry()
    return build_adapter(reg.resolve_any(model), reg, runtime or RuntimeConfig())


def load_classifier(
    model: str, *, runtime: RuntimeConfig | None = None, registry: Registry | None = None
) -> MaskClassifier:
    """A mask / no_mask face-crop classifier (a `classifier` entry), sha256-verified."""
    reg = registry or Registry()
    resolved = reg.resolve(model)
    if resolved.spec.adapter != "classifier":
        raise ModelError(f"model {model!r} is a {resolved.spec.adapter!r}, not a classifier")
    assert resolved.path is not None
    return MaskClassifier(resolved.spec, make_session(resolved.path, runtime or RuntimeConfig()))
