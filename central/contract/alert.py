"""Alert payloads: `siaga.alert/1` on `{prefix}/alerts` (QoS 1, not retained), and GET /alerts.

central/rules/ builds them: one message per change of an alert (opened, updated when its
severity or reason changed, resolved). `rule` tells the figures apart: each rule publishes the
figures it judged, so a dashboard can show why an alert holds without reading the reason text.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from central.contract.base import (
    AreaCode,
    Contract,
    Corrected,
    Count,
    Interval,
    Ratio,
    Timestamp,
)

Severity = Literal["info", "warn", "critical"]
AlertEventKind = Literal["open", "update", "resolve"]


class _ComplianceFigures(Contract):
    compliance: Ratio
    """masked / judged over the window."""
    people_seen: Count
    masked: Count
    unmasked: Count
    judged: Count
    """People judged (masked + unmasked): the rule's min_people applies to these."""
    window_min: Annotated[float, Field(ge=0)]
    """Minutes of counts behind the figures."""


class LowComplianceFigures(_ComplianceFigures):
    """Low compliance in a kelurahan whose weekly cases rise."""

    cases_week: Count | None
    """Residents' new cases in the last 7 days."""
    cases_prev_week: Count | None
    """In the 7 days before."""
    threshold: Ratio
    """Compliance below this is low."""
    interval: Interval | None = None
    """Confidence interval of compliance (Wilson, over the people judged)."""
    basis: Literal["point", "interval", "corrected"] | None = None
    """What the rule judged: the ratio, its interval's upper bound, or the corrected
    compliance's (the rule's `basis`; "corrected" falls back to "interval" without calibration)."""
    corrected: Corrected | None = None
    """Compliance corrected for calibrated cameras' detector errors, when the basis used it."""


class NearPharmacy(Contract):
    """A pharmacy with low mask stock in or near the kelurahan."""

    pharmacy_id: str
    name: str
    kelurahan_code: str
    quantity: int
    """Masks in stock."""
    distance_km: Annotated[float, Field(ge=0)] | None
    """From the kelurahan's centroid; null when it has none."""


class MaskStockFigures(_ComplianceFigures):
    """Low compliance and pharmacies nearby short of masks."""

    low_stock: Count
    radius_km: Annotated[float, Field(ge=0)]
    pharmacies: list[NearPharmacy]


class BedFigures(Contract):
    """Isolation-bed occupancy, city-wide (area `city`) or of one hospital (`hospital/{id}`)."""

    beds: Count
    used: Count
    occupancy: Annotated[float, Field(ge=0)]
    warn: Ratio
    critical: Ratio


class PpkmFigures(Contract):
    """A kecamatan's weekly new cases per 100,000 and the PPKM-style level they give."""

    level: Annotated[int, Field(ge=1, le=4)]
    rate_per_100k: Annotated[float, Field(ge=0)]
    cases_week: Count
    population: Count
    bounds: Annotated[list[float], Field(min_length=3, max_length=3)]
    """Rates from which levels 2, 3 and 4 start."""


class _Alert(Contract):
    id: Annotated[int, Field(ge=0)]
    """The alert's id: its events (open, update, resolve) share it."""
    action: str
    """The recommended action, e.g. "mask enforcement operation"."""
    area_code: AreaCode
    """Kelurahan or kecamatan code, `city`, or `hospital/{id}`."""
    severity: Severity
    state: Literal["open", "resolved"]
    reason: str
    """Why, in words, with the figures."""
    first_seen: Timestamp
    last_seen: Timestamp
    resolved_at: Timestamp | None


class _AlertMessage(_Alert):
    schema_: Literal["siaga.alert/1"] = Field(alias="schema")
    event: AlertEventKind
    """What changed: opened, updated (severity or reason), resolved."""


class LowComplianceAlert(_AlertMessage):
    """`low_compliance` → mask enforcement operation."""

    rule: Literal["low_compliance"]
    figures: LowComplianceFigures


class MaskStockAlert(_AlertMessage):
    """`mask_stock` → distribute masks."""

    rule: Literal["mask_stock"]
    figures: MaskStockFigures


class BedOccupancyAlert(_AlertMessage):
    """`bed_occupancy` → prepare isolation beds."""

    rule: Literal["bed_occupancy"]
    figures: BedFigures


class PpkmAlert(_AlertMessage):
    """`ppkm_level` → apply PPKM measures."""

    rule: Literal["ppkm_level"]
    figures: PpkmFigures


Alert = Annotated[
    LowComplianceAlert | MaskStockAlert | BedOccupancyAlert | PpkmAlert,
    Field(discriminator="rule"),
]
"""An alert message as published, told apart by `rule`."""


class _AlertRecord(_Alert):
    published_at: Timestamp | None
    """When the broker last acknowledged this alert's event."""
    publish_pending: AlertEventKind | None
    """The event still waiting for the broker, if any."""


class LowComplianceRecord(_AlertRecord):
    rule: Literal["low_compliance"]
    figures: LowComplianceFigures


class MaskStockRecord(_AlertRecord):
    rule: Literal["mask_stock"]
    figures: MaskStockFigures


class BedOccupancyRecord(_AlertRecord):
    rule: Literal["bed_occupancy"]
    figures: BedFigures


class PpkmRecord(_AlertRecord):
    rule: Literal["ppkm_level"]
    figures: PpkmFigures


AlertRecord = Annotated[
    LowComplianceRecord | MaskStockRecord | BedOccupancyRecord | PpkmRecord,
    Field(discriminator="rule"),
]
"""A stored alert as GET /alerts returns it (its current state)."""
