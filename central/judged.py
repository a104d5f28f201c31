"""What counts towards mask compliance: the one definition every figure uses.

Why one place: compliance is computed by the live summaries, the decision rules, the daily
report and the open data. Since agents judge masks (issue 22), the two inputs differ: people
seen counts everyone, masked + unmasked only the faces an agent could judge, and a camera whose
view cannot judge masks at all (too far, too high: `suitable` false on its windows) must not
bend a kelurahan's ratio with the few faces it happened to call. If each query spelled that out
itself, one that forgot the filter, or gated on people seen instead of people judged, would
publish a ratio over a handful of faces with hundreds of people behind it. So:

- people seen: every window (a wide camera still counts the crowd);
- masked / unmasked: only windows whose `suitable IS NOT FALSE` (true, or not assessed: an
  older agent, whose people were all judged), unless `[summaries] include_unsuitable_cameras`;
- judged = masked + unmasked of those windows; not judged = people seen − judged;
- compliance = masked / judged, None when judged is below the minimum of people (never the
  people seen: 500 people seen with 0 judged has no ratio).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Label, case, false, func, true
from sqlalchemy.sql import ColumnCollection

from central.store import schema

Columns = ColumnCollection[str, Any]


def counts_toward(c: Columns = schema.counts.c, *,
                  include_unsuitable: bool = False) -> ColumnElement[bool]:  # fmt: skip
    """Whether a window's masked/unmasked count towards compliance (NULL suitable does)."""
    return true() if include_unsuitable else c.suitable.is_not(false())


def _where(cond: ColumnElement[bool], value: ColumnElement[Any]) -> ColumnElement[int]:
    return case((cond, value), else_=0)


def sums(c: Columns = schema.counts.c, *,
         include_unsuitable: bool = False) -> list[Label[Any]]:  # fmt: skip
    """SUM aggregates, labelled people_seen, masked, unmasked (those that count) and
    unsuitable_people (people seen in windows marked suitable = false), in that order."""
    cond = counts_toward(c, include_unsuitable=include_unsuitable)
    return [
        func.sum(c.people_seen).label("people_seen"),
        func.sum(_where(cond, c.masked)).label("masked"),
        func.sum(_where(cond, c.unmasked)).label("unmasked"),
        func.sum(_where(c.suitable.is_(false()), c.people_seen)).label("unsuitable_people"),
    ]


def newest_ends(c: Columns = schema.counts.c) -> list[Label[Any]]:
    """MAX aggregates of window_end over windows marked suitable true and false (labelled
    newest_suitable_end, newest_unsuitable_end): with the newest window_end they give the
    newest window's flag (`newest_flag`) and still combine across buckets by max."""
    return [
        func.max(case((c.suitable.is_(true()), c.window_end))).label("newest_suitable_end"),
        func.max(case((c.suitable.is_(false()), c.window_end))).label("newest_unsuitable_end"),
    ]


def newest_flag(newest: Any, suitable_end: Any, unsuitable_end: Any) -> bool | None:
    """The newest window's `suitable` from newest_ends(); a tie at one end time reads false."""
    if newest is None:
        return None
    if unsuitable_end is not None and unsuitable_end >= newest:
        return False
    if suitable_end is not None and suitable_end >= newest:
        return True
    return None


def ratio(masked: float, unmasked: float, min_people: int) -> float | None:
    """masked / judged (judged = masked + unmasked), or None below min_people judged."""
    judged = masked + unmasked
    if judged < min_people or judged <= 0:
        return None
    return masked / judged


def compliance(masked: float, unmasked: float, min_people: int) -> float | None:
    """ratio() rounded to 4 places, as the summaries, report and open data publish it."""
    r = ratio(masked, unmasked, min_people)
    return None if r is None else round(r, 4)


def as_int(v: Any) -> int:
    """A SUM read back (None over no rows; Decimal on PostgreSQL) as an int."""
    return int(v or 0)
