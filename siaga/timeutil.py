"""Time helpers shared by every package: datetimes in UTC, ISO 8601 text, aware-only checks.

A naive datetime is taken as UTC throughout: that is how SQLite gives back what the store wrote
(it keeps no offset), and nothing in Siaga writes local wall-clock times without their zone.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc(t: datetime) -> datetime:
    """t in UTC (a naive t is taken as UTC)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def aware(t: datetime | None) -> datetime | None:
    """`utc` that lets None through (a column that may be empty)."""
    return None if t is None else utc(t)


def iso(t: datetime | None, *, z: bool = False, keep_zone: bool = False) -> str | None:
    """ISO 8601 in UTC (`+00:00`, or `Z` with z=True), or in t's own zone with keep_zone=True
    (the report states its cut-off in WIB); None stays None."""
    if t is None:
        return None
    text = t.isoformat() if keep_zone else utc(t).isoformat()
    return text.replace("+00:00", "Z") if z else text


def require_aware(t: datetime, what: str = "times") -> datetime:
    """t itself; a ValueError when it has no time zone (`what` names it in the message)."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return t
