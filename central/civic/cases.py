"""COVID-19 cases per kelurahan per day; city residents and out-of-town patients kept apart.

Counts are cumulative as of the day (active: being treated that day). Out-of-town patients are
filed under their home kelurahan code, which lies outside the city's registry.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from central.civic.common import AreaCodes, CivicModule, CivicRow, Count, KelurahanCode, Problems
from central.store import schema


class CaseRow(CivicRow):
    """One kelurahan, one day, one residency."""

    kelurahan_code: KelurahanCode
    date: dt.date
    residency: Literal["resident", "non_resident"]
    confirmed: Count
    active: Count
    recovered: Count
    deaths: Count
    suspect: Count = 0
    probable: Count = 0

    def problems(self, areas: AreaCodes) -> Problems:
        """Outcomes within confirmed; residents in a city kelurahan, others outside it."""
        out: Problems = []
        if self.active + self.recovered + self.deaths > self.confirmed:
            out.append(("active", f"active + recovered + deaths ({self.active} + "
                        f"{self.recovered} + {self.deaths}) exceeds confirmed "
                        f"({self.confirmed})"))  # fmt: skip
        known = self.kelurahan_code in areas.kelurahan
        if self.residency == "resident" and not known:
            out.append(("kelurahan_code", f"unknown kelurahan {self.kelurahan_code} "
                        "(not in the area registry)"))  # fmt: skip
        elif self.residency == "non_resident" and known:
            out.append(("residency", f"{self.kelurahan_code} is a city kelurahan: "
                        "non_resident is for out-of-town patients"))  # fmt: skip
        return out


MODULE = CivicModule(
    name="cases",
    model=CaseRow,
    table=schema.civic_cases,
    key=("kelurahan_code", "date", "residency"),
    help="COVID-19 cases per kelurahan per day (residents and out-of-town patients apart)",
)
