"""The per-camera calibration file the agent reads (written by `siaga calibrate`).

JSON or TOML. It carries a version that every counts message repeats, so central knows which
thresholds produced each figure.
"""

from __future__ import annotations

import json
import math
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from siaga.settings import ConfigError
from siaga.wire import DetectorConfusion, Ident

CALIBRATION_SCHEMA: Final = "siaga.calibration/1"
# Zone points are normalised to the frame (0..1), so one file fits any stream resolution.
Unit = Annotated[float, Field(ge=0.0, le=1.0)]


def _plain_number(v: object) -> object:
    # JSON true/false would otherwise pass as 1.0/0.0, and NaN fails every comparison.
    if isinstance(v, bool):
        raise ValueError("must be a number between 0 and 1, not true/false")
    if isinstance(v, float) and math.isnan(v):
        raise ValueError("must be a number between 0 and 1, not NaN")
    if isinstance(v, int | float) and not 0.0 <= v <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {v}")
    return v


def _has_area(poly: list[tuple[float, float]]) -> list[tuple[float, float]]:
    # A zone whose points lie on one line contains nothing: every face would silently drop.
    area2 = sum(
        x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1], strict=True)
    )
    if abs(area2) < 1e-9:
        raise ValueError("the zone has no area (its points lie on one line)")
    return poly


Threshold = Annotated[
    float, BeforeValidator(_plain_number), Field(ge=0.0, le=1.0, allow_inf_nan=False)
]
Polygon = Annotated[list[tuple[Unit, Unit]], Field(min_length=3), AfterValidator(_has_area)]


class CalibrationFile(BaseModel):
    """Thresholds and zones fitted for one camera."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["siaga.calibration/1"] = Field(default=CALIBRATION_SCHEMA, alias="schema")
    version: str = Field(min_length=1, max_length=64)
    camera_id: Ident
    thresholds: dict[Literal["mask", "no_mask"], Threshold] = Field(default_factory=dict)
    min_face_px: int | None = Field(default=None, ge=1, le=4096)
    max_face_px: int | None = Field(default=None, ge=1, le=8192)
    include_zones: list[Polygon] | None = None
    exclude_zones: list[Polygon] | None = None
    created_at: datetime | None = None
    notes: str = ""
    # The detector's errors on the labels at these thresholds (calibration/fit.py confusion_at);
    # the agent reports it with the version so central can correct this camera's compliance.
    confusion: DetectorConfusion | None = None

    @model_validator(mode="after")
    def _sizes_ordered(self) -> CalibrationFile:
        lo, hi = self.min_face_px, self.max_face_px
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"min_face_px ({lo}) cannot exceed max_face_px ({hi})")
        return self

    def threshold_ok(self) -> bool:
        """All thresholds lie in [0, 1]."""
        return all(0.0 <= v <= 1.0 for v in self.thresholds.values())


def load_calibration(path: Path, *, camera_id: str | None) -> CalibrationFile:
    """Read and validate a calibration file; errors name the file, key path and reason.

    `camera_id=None` skips the camera check (a technician validating a file on its own).
    """
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"top level must be an object, not {type(data).__name__}")
    except FileNotFoundError:
        raise ConfigError(f"{path}: calibration file not found") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read calibration: {exc}") from exc
    try:
        cal = CalibrationFile.model_validate(data)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"{path}: {reasons}") from None
    if camera_id is not None and cal.camera_id != camera_id:
        raise ConfigError(f"{path}: camera_id is {cal.camera_id!r}, expected {camera_id!r}")
    if not cal.threshold_ok():
        raise ConfigError(f"{path}: thresholds must lie between 0 and 1")
    return cal
