"""Manifest entries: one pydantic model per section, every field a model needs to run."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.preprocess import ColorOrder, ResizeMode

AdapterType = Literal["ssd_anchor", "ultraface", "yolo", "two_stage", "yunet", "classifier"]
OutputLabel = Literal["mask", "no_mask", "background", "face", "ignore"]
# Adapters that turn one image into mask / no_mask detections on their own.
DETECTOR_ADAPTERS: frozenset[str] = frozenset({"ssd_anchor", "ultraface", "yolo", "two_stage"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SsdAnchors(_Strict):
    """Anchor grid of a single-stage SSD (all values normalised to the input size)."""

    feature_maps: list[int] = Field(min_length=1)
    sizes: list[list[float]] = Field(min_length=1)
    ratios: list[float] = Field(min_length=1)
    variances: tuple[float, float, float, float] = (0.1, 0.1, 0.2, 0.2)

    @model_validator(mode="after")
    def _levels_match(self) -> SsdAnchors:
        if len(self.sizes) != len(self.feature_maps):
            raise ValueError("anchors.sizes needs one list of sizes per feature map")
        return self


class YoloOptions(_Strict):
    """Layout of a YOLO-style export: one output of boxes and class scores."""

    objectness: bool = False
    box_format: Literal["cxcywh", "xyxy"] = "cxcywh"
    scores: Literal["sigmoid_applied", "logits"] = "sigmoid_applied"


class TwoStageOptions(_Strict):
    """A face detector and a mask classifier, both named entries of the registry."""

    face_model: str
    classifier: str
    face_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    crop_expand: float = Field(default=1.2, ge=1.0, le=3.0)


class ModelSpec(_Strict):
    """One manifest entry: where the file is, how to feed it and how to read its outputs."""

    name: str
    version: str = Field(default="1", min_length=1, max_length=64)
    file: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    adapter: AdapterType
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
    anchors: SsdAnchors | None = None
    yolo: YoloOptions | None = None
    two_stage: TwoStageOptions | None = None

    @model_validator(mode="after")
    def _adapter_sections(self) -> ModelSpec:
        if self.adapter == "ssd_anchor" and self.anchors is None:
            raise ValueError("adapter 'ssd_anchor' needs an [anchors] section")
        if self.adapter == "two_stage" and self.two_stage is None:
            raise ValueError("adapter 'two_stage' needs a [two_stage] section")
        # A two-stage entry only names its parts; every other entry is one verified file.
        if self.adapter != "two_stage" and (self.file is None or self.sha256 is None):
            raise ValueError(f"adapter {self.adapter!r} needs file and sha256")
        fixed = self.adapter in {"ssd_anchor", "ultraface", "yolo", "classifier"}
        if fixed and (self.input_width is None or self.input_height is None):
            raise ValueError(f"adapter {self.adapter!r} needs input_width and input_height")
        if self.adapter != "two_stage" and self.adapter != "yunet" and not self.labels:
            raise ValueError("labels (the model's output classes, in order) are required")
        return self

    @property
    def is_detector(self) -> bool:
        """True when this entry alone yields mask / no_mask detections."""
        return self.adapter in DETECTOR_ADAPTERS
