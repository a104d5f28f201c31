"""The synthetic sample civic files (`central/civic/examples`), moved to the present for demos.

The files are dated July 2021 and clearly synthetic. For a demo the city wants to see today's
decisions, so every date in them is moved by the same number of days (the newest becomes today,
Asia/Jakarta) and no time stamp is left in the future. Rows are validated exactly as
`siaga central import` validates them, and written with the audit name `demo:synthetic-samples`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from central.civic import MODULES
from central.civic.common import AreaCodes, CivicRow, RawRow
from central.civic.importer import load_file, validate_rows, write_rows

EXAMPLES = Path(__file__).parent / "examples"
# Import order: population first (rates per 100,000 need it), then the daily modules.
FILES = {
    "population": "population.csv",
    "cases": "cases.csv",
    "beds": "beds.csv",
    "pharmacy": "pharmacy.json",
    "entries": "entries.csv",
    "staples": "staples.csv",
    "aid": "aid.json",
}
WHO = "demo:synthetic-samples"


def _dates(row: CivicRow) -> Iterator[date]:
    for name in type(row).model_fields:
        value = getattr(row, name)
        if isinstance(value, datetime):
            yield value.date()
        elif isinstance(value, date):
            yield value


def shifted(row: CivicRow, days: int, now: datetime) -> CivicRow:
    """The row with every date and time moved by `days` (times capped at `now`)."""
    update: dict[str, date | datetime] = {}
    for name in type(row).model_fields:
        value = getattr(row, name)
        if isinstance(value, datetime):
            update[name] = min(value + timedelta(days=days), now)
        elif isinstance(value, date):
            update[name] = value + timedelta(days=days)
    return row.model_copy(update=update)


def load_samples(engine: Engine, areas: AreaCodes, *, now: datetime) -> dict[str, int]:
    """Import every sample file, moved so that its newest day is `now`'s date; rows per module."""
    loaded = {name: load_file(MODULES[name], EXAMPLES / f, areas) for name, f in FILES.items()}
    newest = max((d for rows in loaded.values() for r in rows for d in _dates(r)), default=None)
    days = (now.date() - newest).days if newest is not None else 0
    written = {}
    for name, rows in loaded.items():
        moved = [shifted(r, days, now) for r in rows]
        written[name] = write_rows(engine, MODULES[name], moved, who=WHO, now=now).rows
    return written


def local_rows(
    kelurahan: str, *, lat: float, lng: float, today: date, now: datetime
) -> dict[str, list[dict[str, object]]]:
    """Synthetic rows for the demo cameras' own kelurahan, so that its rules have data.

    Fifteen days of cumulative resident cases that rise faster in the last week (10 new cases
    against 7: a weekly rate of 123 per 100,000, PPKM level 3, and "rising cases"), its
    population, and one pharmacy at its centroid with few masks left.
    """
    cases: list[dict[str, object]] = []
    confirmed = 60
    for i in range(15):  # today - 14 … today: new cases 7 the week before, 10 this week
        confirmed += 1 if i < 8 else 1 + i % 2
        day = (today - timedelta(days=14 - i)).isoformat()
        cases.append({"kelurahan_code": kelurahan, "date": day, "residency": "resident",
                      "confirmed": confirmed, "active": confirmed - 50, "recovered": 48,
                      "deaths": 2})  # fmt: skip
    pharmacy = {"pharmacy_id": "apotek-contoh-sintetis", "item": "mask",
                "pharmacy_name": "Apotek Contoh (synthetic)", "kelurahan_code": kelurahan,
                "lat": lat, "lng": lng, "quantity": 12, "unit": "box of 50",
                "as_of": now.isoformat()}  # fmt: skip
    population = {"kelurahan_code": kelurahan, "year": today.year, "population": 8100}
    return {"population": [population], "cases": cases, "pharmacy": [pharmacy]}


def load_local(engine: Engine, areas: AreaCodes, rows: dict[str, list[dict[str, object]]],
               *, now: datetime) -> dict[str, int]:  # fmt: skip
    """Validate (as an import would) and write `local_rows`; rows per module."""
    written = {}
    for name, raws in rows.items():
        module = MODULES[name]
        valid = validate_rows(module, [RawRow(i + 1, r) for i, r in enumerate(raws)], areas,
                              where=f"synthetic {name}")  # fmt: skip
        written[name] = write_rows(engine, module, valid, who=WHO, now=now).rows
    return written
