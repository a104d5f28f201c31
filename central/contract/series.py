"""GET /series/{level}/{code}?span=today|14d: an area's counts over time, for the dashboard's
area panel plots (central/api/series.py). Public: the aggregates the open data publishes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from central.contract.base import AreaCode, Contract, Count, Ratio, Timestamp


class SeriesPoint(Contract):
    """One bin, half-open (from, to] on the count windows' end (as the summaries' periods)."""

    from_: Timestamp = Field(alias="from")
    to: Timestamp
    people_seen: Count
    """Every person counted in the bin."""
    masked: Count
    """Judged wearing a mask (cameras that count towards compliance: central/judged.py)."""
    unmasked: Count
    judged: Count
    """masked + unmasked."""
    compliance: Ratio | None
    """masked / judged, 4 places; null below min_people_for_ratio judged (never 0 %)."""


class Series(Contract):
    """Today in 10-minute bins up to the current one, or the last 14 local days (today last)."""

    level: Literal["city", "kecamatan", "kelurahan"]
    code: AreaCode
    """Area code (the kota code for the city)."""
    name: str | None
    span: Literal["today", "14d"]
    bin_s: Annotated[int, Field(gt=0)]
    """Bin length in seconds: 600 (today) or 86,400 (14d; local days)."""
    timezone: str
    """Whose local day the bins follow."""
    min_people_for_ratio: Annotated[int, Field(ge=1)]
    include_unsuitable_cameras: bool
    computed_at: Timestamp
    points: list[SeriesPoint]
