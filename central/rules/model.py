"""The rules file: one table per rule, pydantic-validated, unknown keys rejected."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from siaga.settings import ConfigError, format_errors, read_toml

Severity = Literal["info", "warn", "critical"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


Basis = Literal["point", "interval", "corrected"]


class LowComplianceRule(_Rule):
    """Low mask compliance in a kelurahan whose weekly cases rise → mask enforcement.

    `basis` says what counts as low (central/rules/evidence.py): "point", the ratio itself below
    the threshold; "interval" (default), the whole confidence interval below it (its upper bound),
    so 13 masked of 20 (95 % CI 43–82 %) does not send an operation out while 190 of 312 (55–66 %)
    does; "corrected", the same on the compliance corrected for calibrated cameras' detector
    errors (central/uncertainty/correction.py), falling back to "interval" where no calibrated
    camera contributes. Why "interval" by default: it needs nothing but the counts, so it holds in
    every kelurahan, and it acts on evidence rather than on noise; "corrected" is the better
    figure where cameras are calibrated, which is not yet the rule in the city.

    Hysteresis: an open alert resolves only when the evidence says compliance is above
    threshold + resolve_margin (point: the ratio; interval and corrected: the lower bound), so
    between opening and resolving lie the interval's width and the margin and a kelurahan
    hovering at the threshold keeps its state instead of flapping. An open alert whose kelurahan
    has too few people judged, or too short a window, is held as it is (no figure is no news).
    """

    threshold: float = Field(default=0.70, gt=0, le=1)  # compliance below this is low
    window_min: float = Field(default=20, gt=0, le=1440)  # minutes
    min_people: int = Field(default=20, ge=1, le=1_000_000)  # people judged, not seen
    require_rising_cases: bool = True  # this week's new cases > the week before's
    severity: Severity = "warn"
    basis: Basis = "interval"
    level: float = Field(default=0.95, ge=0.5, lt=1)  # confidence level of the interval
    resolve_margin: float = Field(default=0.02, ge=0, le=0.5)  # above threshold to resolve


class MaskStockRule(_Rule):
    """Low mask stock at pharmacies in or near a low-compliance kelurahan → distribute masks."""

    low_stock: int = Field(default=50, ge=0)  # mask quantity below this is low
    radius_km: float = Field(default=2.0, ge=0, le=100)  # from the kelurahan's centroid
    severity: Severity = "warn"


class BedOccupancyRule(_Rule):
    """Isolation-bed occupancy (used / beds), city-wide and per hospital."""

    warn: float = Field(default=0.60, gt=0, le=1)  # occupancy above this: warn
    critical: float = Field(default=0.80, gt=0, le=1)  # above this: critical
    min_beds: int = Field(default=1, ge=1)  # hospitals with fewer beds are not judged alone
    max_age_days: int = Field(default=3, ge=0, le=60)  # newest report per hospital, this fresh

    @model_validator(mode="after")
    def _ordered(self) -> BedOccupancyRule:
        if self.critical <= self.warn:
            raise ValueError("critical must be above warn")
        return self


class PpkmRule(_Rule):
    """Weekly new cases per 100,000 per kecamatan → PPKM-style level 1–4."""

    # level 2 from the first bound, 3 from the second, 4 above the third (README: 20/50/150)
    bounds: tuple[float, float, float] = (20.0, 50.0, 150.0)
    alert_level: int = Field(default=3, ge=1, le=4)
    critical_level: int = Field(default=4, ge=1, le=4)

    @model_validator(mode="after")
    def _ordered(self) -> PpkmRule:
        a, b, c = self.bounds
        if not 0 <= a < b < c:
            raise ValueError("bounds must be increasing and non-negative")
        return self


class Rules(BaseModel):
    """All rules (each table optional: missing ones take the embedded defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "Asia/Jakarta"  # whose calendar days the weekly case figures use
    low_compliance: LowComplianceRule = LowComplianceRule()
    mask_stock: MaskStockRule = MaskStockRule()
    bed_occupancy: BedOccupancyRule = BedOccupancyRule()
    ppkm: PpkmRule = PpkmRule()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


DEFAULT_RULES = Rules()


def load_rules(path: Path | None) -> Rules:
    """The rules file (None: embedded defaults); errors name the file, key and reason."""
    if path is None:
        return DEFAULT_RULES
    raw = read_toml(path)
    try:
        return Rules.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_errors(str(path), exc)) from None
