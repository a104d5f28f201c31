"""siaga/timeutil.py: one reading of naive times (UTC), one ISO form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from siaga.timeutil import aware, iso, require_aware, utc

WIB = timezone(timedelta(hours=7))


def test_utc_takes_naive_as_utc_and_converts_aware() -> None:
    assert utc(datetime(2026, 1, 2, 3, 4)) == datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    assert utc(datetime(2026, 1, 2, 10, 4, tzinfo=WIB)).tzinfo is UTC
    assert utc(datetime(2026, 1, 2, 10, 4, tzinfo=WIB)).hour == 3
    assert aware(None) is None and aware(datetime(2026, 1, 2)) == datetime(2026, 1, 2, tzinfo=UTC)


def test_iso() -> None:
    t = datetime(2026, 1, 2, 10, 4, tzinfo=WIB)
    assert iso(t) == "2026-01-02T03:04:00+00:00"
    assert iso(t, z=True) == "2026-01-02T03:04:00Z"
    assert iso(datetime(2026, 1, 2, 3, 4)) == "2026-01-02T03:04:00+00:00"
    assert iso(None) is None


def test_require_aware() -> None:
    t = datetime(2026, 1, 2, tzinfo=WIB)
    assert require_aware(t) is t
    with pytest.raises(ValueError, match="counter times must be timezone-aware"):
        require_aware(datetime(2026, 1, 2), "counter times")
