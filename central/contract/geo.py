"""GET /areas.geojson: the kelurahan as a GeoJSON FeatureCollection with their latest figures.

Public: the figures are the aggregates the open data publishes (no camera, agent or alert).
Properties are flat (MapLibre and Leaflet style expressions read flat keys); `data_state` says
why an area has no compliance, so a map can grey it and say so instead of showing 0 %.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from central.contract.base import AreaCode, Contract, Count, Ratio, Timestamp

Position = Annotated[list[float], Field(min_length=2, max_length=3)]
Ring = Annotated[list[Position], Field(min_length=4)]
DataState = Literal["ok", "too_few_people", "no_data", "no_camera", "no_summary"]


class Polygon(Contract):
    type: Literal["Polygon"]
    coordinates: list[Ring]
    """Outer ring, then holes; [lng, lat] (RFC 7946)."""


class MultiPolygon(Contract):
    type: Literal["MultiPolygon"]
    coordinates: list[list[Ring]]


class AreaProperties(Contract):
    """A kelurahan's latest figures (from the latest summary pass)."""

    code: AreaCode
    name: str
    kecamatan_code: AreaCode
    kecamatan_name: str | None
    data_state: DataState
    """ok: compliance known; too_few_people: below min_people_for_ratio judged; no_data:
    cameras, none reporting; no_camera: no camera here; no_summary: no pass yet."""
    compliance_recent: Ratio | None
    """Compliance over the last recent_min minutes (null: see data_state)."""
    compliance_recent_low: Ratio | None
    """Lower bound of its confidence interval, when known."""
    compliance_recent_high: Ratio | None
    people_seen_recent: Count | None
    judged_recent: Count | None
    compliance_today: Ratio | None
    people_seen_today: Count | None
    judged_today: Count | None
    cameras_expected: Count | None
    cameras_reporting: Count | None
    newest_window_end: Timestamp | None
    age_s: Annotated[float, Field(ge=0)] | None
    """Seconds from the newest window to the pass."""
    cases_active: Count | None
    cases_new_7d: Count | None
    weekly_rate_per_100k: Annotated[float, Field(ge=0)] | None
    ppkm_level: Annotated[int, Field(ge=1, le=4)] | None
    """The kecamatan's PPKM-style level."""


class AreaFeature(Contract):
    type: Literal["Feature"]
    id: AreaCode
    """The kelurahan code."""
    geometry: Polygon | MultiPolygon | None
    """Null when the boundary file has no polygon for it."""
    properties: AreaProperties


class AreaCollection(Contract):
    """Every kelurahan of the area registry, by code."""

    type: Literal["FeatureCollection"]
    computed_at: Timestamp | None
    """When the summaries behind the figures were computed (null before the first pass)."""
    min_people_for_ratio: Annotated[int, Field(ge=1)] | None
    features: list[AreaFeature]
