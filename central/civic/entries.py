"""People entering the city per day, per entry point (terminal, station, toll gate, port)."""

from __future__ import annotations

import datetime as dt

from central.civic.common import CivicModule, CivicRow, Count, Ident
from central.store import schema


class EntryRow(CivicRow):
    """People counted entering at one entry point on one day."""

    date: dt.date
    entry_point: Ident
    people: Count


MODULE = CivicModule(
    name="entries",
    model=EntryRow,
    table=schema.civic_entries,
    key=("date", "entry_point"),
    help="people entering the city per day and entry point",
)
