"""Aid received by the city and distributed to kelurahan, by source; daily totals per item.

`area_code` is a kelurahan, or the city's own code (33.74) for aid received or held centrally.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from central.civic.common import AreaCodes, CivicModule, CivicRow, Name, Problems, Slug
from central.store import schema

AreaCode = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^\d{2}\.\d{2}(\.\d{2}\.\d{4})?$")
]


class AidRow(CivicRow):
    """One day's total of one item received or distributed, from one source, in one area."""

    date: dt.date
    direction: Literal["received", "distributed"]
    source: Literal["regional_government", "central_government", "private"]
    area_code: AreaCode
    item: Slug
    unit: Name
    quantity: float = Field(gt=0, le=1e9, allow_inf_nan=False)

    def problems(self, areas: AreaCodes) -> Problems:
        """The area is the city or one of its kelurahan; distribution goes to a kelurahan."""
        if self.area_code == areas.kota:
            if self.direction == "distributed":
                return [("area_code", "distributed aid names the kelurahan it went to")]
            return []
        if self.area_code not in areas.kelurahan:
            return [("area_code", f"unknown area {self.area_code} (neither the city "
                     f"{areas.kota} nor a kelurahan in the registry)")]  # fmt: skip
        return []


MODULE = CivicModule(
    name="aid",
    model=AidRow,
    table=schema.civic_aid,
    key=("date", "direction", "source", "area_code", "item"),
    help="aid received and distributed (regional/central government, private), daily totals",
)
