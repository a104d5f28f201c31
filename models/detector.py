"""Build a ready detector from a registry name or a model file."""

from __future__ import annotations

from models.adapters import Adapter, MaskClassifier
from models.registry import ModelError, Registry, ResolvedModel
from models.runtime import RuntimeConfig, make_session

DEFAULT_MODEL = "siaga_facemask_v1"


def build_adapter(resolved: ResolvedModel, registry: Registry, runtime: RuntimeConfig) -> Adapter:
    """Instantiate the adapter of the family the manifest's `adapter` key names."""
    spec = resolved.spec
    family = spec.family
    if family.build is None:
        raise ModelError(
            f"model {spec.name!r} is a {spec.adapter!r} component, not a detector on its own; "
            "use a two_stage entry that names it"
        )
    adapter: Adapter = family.build(resolved, registry, runtime)
    return adapter


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
