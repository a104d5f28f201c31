"""The summary payload (`siaga.summary/1`): retained on `{prefix}/summary/...`, and /summaries.

One message per area and camera per pass (central/summaries.py builds them):
`{prefix}/summary/city`, `.../kecamatan/{code}`, `.../kelurahan/{code}`,
`.../camera/{agent_id}/{camera_id}`; an empty retained message clears a topic that is no longer
summarised (a camera gone for over 7 days). GET /summaries/{level}[/{code}] returns the same
payloads. `level` tells the four shapes apart.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from central.contract.base import (
    AreaCode,
    Contract,
    Corrected,
    Count,
    Day,
    Interval,
    Ratio,
    Timestamp,
)
from siaga.wire import Ident, KelurahanCode

SummaryLevel = Literal["city", "kecamatan", "kelurahan", "camera"]


class Period(Contract):
    """Figures over one period, half-open (from, to] on the count windows' end."""

    from_: Timestamp = Field(alias="from")
    """Start of the period (exclusive)."""
    to: Timestamp
    """End of the period: when the pass ran."""
    windows: Count
    """Count windows behind the figures."""
    people_seen: Count
    """Every person the cameras counted, judged or not."""
    masked: Count
    """People judged wearing a mask (cameras that count towards compliance)."""
    unmasked: Count
    """People judged not wearing one."""
    judged: Count
    """masked + unmasked: the people compliance is computed over."""
    not_judged: Count
    """people_seen - judged: too far, too small, or seen by a camera left out of compliance."""
    unsuitable_people: Count
    """People seen by cameras their agent marks unsuitable for judging masks."""
    compliance: Ratio | None
    """masked / judged, rounded to 4 places; null below min_people_for_ratio people judged."""
    interval: Interval | None = None
    """Confidence interval of compliance; null (or absent) when nobody was judged."""
    corrected: Corrected | None = None
    """Compliance corrected by camera calibration; null when no calibrated camera contributes."""


class Periods(Contract):
    """The last `recent_min` minutes, the local day so far, and the last 7 local days."""

    recent: Period
    today: Period
    d7: Period = Field(alias="7d")


class CameraCount(Contract):
    """Cameras behind an area's figures."""

    expected: Count
    """Registered cameras expected to report."""
    reporting: Count
    """Cameras with a window newer than stale_after_s."""


class Freshness(Contract):
    """How old the newest data is."""

    newest_window_end: Timestamp | None
    """End of the newest count window over the 7 days; null when none."""
    age_s: Annotated[float, Field(ge=0)] | None
    """Seconds from that window's end to the pass."""
    stale_after_s: Annotated[float, Field(gt=0)]
    """A camera is no longer reporting after this many seconds without a window."""


class Cases(Contract):
    """COVID-19 cases of the area's residents (central/civic/figures.py)."""

    confirmed: Count | None
    """Confirmed cases to date."""
    active: Count | None
    """Active cases today."""
    new_7d: Count | None
    """New confirmed cases over the last 7 days."""
    population: Count | None
    """Residents (the year's population figure)."""
    weekly_rate_per_100k: Annotated[float, Field(ge=0)] | None
    """new_7d per 100,000 residents, over the kelurahan having both figures."""


class Beds(Contract):
    """Isolation beds of the hospitals in the area (newest report per room type)."""

    total: int | None
    used: int | None
    free: int | None
    occupancy: Annotated[float, Field(ge=0)] | None
    """used / total."""


class PharmacyStock(Contract):
    """Pharmacy stock in the area now."""

    mask_stock: int | None
    hand_sanitizer_stock: int | None
    pharmacies: Count
    """Pharmacies reporting stock."""
    low_mask_stock: Count
    """Pharmacies with fewer masks than the mask_stock rule's low_stock."""


class Civic(Contract):
    """The area's civic figures on the local day `date`."""

    date: Day
    cases: Cases
    ppkm_level: Annotated[int, Field(ge=1, le=4)] | None
    """PPKM-style level 1-4 of the kecamatan (a kelurahan carries its kecamatan's)."""
    beds: Beds
    pharmacy: PharmacyStock


class _Summary(Contract):
    schema_: Literal["siaga.summary/1"] = Field(alias="schema")
    """Payload schema and version."""
    name: str | None
    """Area or camera name (null for an unregistered camera)."""
    computed_at: Timestamp
    """When the pass ran, in the city's time zone."""
    timezone: str
    """The zone of the local day (e.g. Asia/Jakarta)."""
    min_people_for_ratio: Annotated[int, Field(ge=1)]
    """Compliance is null below this many people judged."""
    include_unsuitable_cameras: bool
    """Whether cameras marked unsuitable count towards compliance."""
    periods: Periods
    cameras: CameraCount
    freshness: Freshness


class CitySummary(_Summary):
    """The whole city (topic `{prefix}/summary/city`)."""

    level: Literal["city"]
    code: AreaCode
    """The kota code (e.g. 33.74)."""
    civic: Civic | None = None


class KecamatanSummary(_Summary):
    """One kecamatan (topic `{prefix}/summary/kecamatan/{code}`)."""

    level: Literal["kecamatan"]
    code: AreaCode
    civic: Civic | None = None


class KelurahanSummary(_Summary):
    """One kelurahan (topic `{prefix}/summary/kelurahan/{code}`)."""

    level: Literal["kelurahan"]
    code: AreaCode
    kecamatan_code: AreaCode
    civic: Civic | None = None


class CameraSummary(_Summary):
    """One camera (topic `{prefix}/summary/camera/{agent_id}/{camera_id}`); operator data."""

    level: Literal["camera"]
    code: Annotated[str, Field(pattern=r"^[^/]+/[^/]+$")]
    """agent_id/camera_id."""
    agent_id: Ident
    camera_id: Ident
    kelurahan_code: KelurahanCode
    """The registry's kelurahan, else the one its newest counts reported."""
    kecamatan_code: AreaCode | None
    """Null when the kelurahan is not in the area registry."""
    registered: bool
    """Whether the camera is in the camera registry."""
    kelurahan_mismatch: bool
    """Registered, yet its counts reported another kelurahan too."""
    suitable: bool | None
    """The newest window's verdict: can this view judge masks (null: not assessed)."""
    calibration_version: str | None = None
    """The calibration its agent reports for it (its confusion corrects its compliance: see
    `corrected`); null: uncalibrated, its figures are not corrected."""


Summary = Annotated[
    CitySummary | KecamatanSummary | KelurahanSummary | CameraSummary,
    Field(discriminator="level"),
]
"""Any summary payload, told apart by `level`."""
