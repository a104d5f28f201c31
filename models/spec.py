"""Manifest entries: one pydantic model per section, every field a model needs to run."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator
from pydantic_core import InitErrorDetails, ValidationError

from models import family as families
from models.family import Family, Options
from models.preprocess import ColorOrder, ResizeMode

OutputLabel = Literal["mask", "no_mask", "background", "face", "ignore"]
OptionsT = TypeVar("OptionsT", bound=Options)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    """One manifest entry: where the file is, how to feed it and how to read its outputs."""

    name: str
    version: str = Field(default="1", min_length=1, max_length=64)
    file: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    adapter: str  # a model family (models/family.py), registered by a file of models/adapters/
    input_width: int | None = Field(default=None, ge=8, le=8192)
    input_height: int | None = Field(default=None, ge=8, le=8192)
    labels: list[OutputLabel] = Field(default_factory=list)
    resize: ResizeMode = "plain"
    color: ColorOrder = "rgb"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (255.0, 255.0, 255.0)
    conf_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    nms_iou: float = Field(default=0.4, gt=0.0, le=1.0)
    nms: Literal["class_agnostic", "per_class"] = "class_agnostic"
    max_detections: int = Field(default=300, ge=1, le=10000)
    scores_are_logits: bool = False
    license: str
    source: str
    description: str = ""
    # The family's options table ([models.NAME.anchors] for ssd_anchor …), validated by the
    # family's own model (models/family.py); None for a family without options.
    options: SerializeAsAny[Options] | None = None

    @model_validator(mode="before")
    @classmethod
    def _family_options(cls, data: Any) -> Any:
        """Move the family's options table to `options`, validated by the family's model."""
        if not isinstance(data, dict):
            return data
        if "options" in data:
            if data["options"] is None or isinstance(data["options"], Options):
                return data  # built in code (ModelSpec(options=…))
            raise ValueError("'options' is not a manifest key: a family's options go in its table")
        key = data.get("adapter")
        family = families.find(key) if isinstance(key, str) else None
        if family is None or family.options is None:
            return data
        data = dict(data)
        raw = data.pop(family.table, None)
        if raw is None and family.options_required:
            return data  # _family_needs says which table is missing, after the fields
        try:
            data["options"] = family.options.model_validate({} if raw is None else raw)
        except ValidationError as exc:
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    InitErrorDetails(type=e["type"], loc=(family.table, *e["loc"]),
                                     input=e["input"], ctx=e.get("ctx", {}))
                    for e in exc.errors()
                ],
            ) from None  # fmt: skip
        return data

    @field_validator("adapter")
    @classmethod
    def _known_family(cls, key: str) -> str:
        if families.find(key) is None:
            raise ValueError(f"unknown adapter {key!r}; known: {', '.join(families.known())}")
        return key

    @model_validator(mode="after")
    def _family_needs(self) -> ModelSpec:
        f = self.family
        if f.options is not None and f.options_required and self.options is None:
            raise ValueError(f"adapter {self.adapter!r} needs an [{f.table}] section")
        if f.options is None and self.options is not None:
            raise ValueError(f"adapter {self.adapter!r} takes no options")
        # A family built from other entries only names its parts; every other is one file.
        if f.one_file and (self.file is None or self.sha256 is None):
            raise ValueError(f"adapter {self.adapter!r} needs file and sha256")
        if f.fixed_input and (self.input_width is None or self.input_height is None):
            raise ValueError(f"adapter {self.adapter!r} needs input_width and input_height")
        if f.needs_labels and not self.labels:
            raise ValueError("labels (the model's output classes, in order) are required")
        return self

    @property
    def family(self) -> Family:
        """The registered family this entry's `adapter` names."""
        return families.get(self.adapter)

    @property
    def is_detector(self) -> bool:
        """True when this entry alone yields mask / no_mask detections."""
        return self.family.detector

    def options_as(self, kind: type[OptionsT]) -> OptionsT:
        """The options table as its family's model (the adapters' typed view of it)."""
        if not isinstance(self.options, kind):
            raise TypeError(f"model {self.name!r}: options {self.options!r}, not {kind.__name__}")
        return self.options

    def parts(self) -> tuple[str, ...]:
        """Names of the other entries this one is built from (none for a one-file entry)."""
        f = self.family
        return () if f.parts is None or self.options is None else f.parts(self.options)
