"""Time parameters of the HTTP API that cannot overflow.

A datetime near year 1 or 9999 with an offset cannot be converted to UTC (OverflowError, which
answered 500). The API takes the wire contract's window, years 2000 to 2099 (siaga.wire's
Timestamp), for every time and date it is given, and answers 422 naming the parameter otherwise.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator

from siaga.wire import Timestamp

FIRST_YEAR, LAST_YEAR = 2000, 2099

# An aware datetime between the years 2000 and 2099 (in its own offset), as in the wire contract.
ApiTime = Timestamp


def _plausible_day(d: date) -> date:
    if not FIRST_YEAR <= d.year <= LAST_YEAR:
        raise ValueError(f"must be a date between the years {FIRST_YEAR} and {LAST_YEAR}")
    return d


ApiDay = Annotated[date, AfterValidator(_plausible_day)]


def plausible_year(year: int) -> bool:
    """Whether a year is inside the API's window (for values decoded by hand, e.g. cursors)."""
    return FIRST_YEAR <= year <= LAST_YEAR
