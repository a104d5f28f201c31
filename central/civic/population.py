"""Population per kelurahan per year, the denominator of rates per 100,000 people."""

from __future__ import annotations

from pydantic import Field

from central.civic.common import CivicModule, CivicRow, KelurahanCode
from central.store import schema


class PopulationRow(CivicRow):
    """One kelurahan's residents in one year."""

    kelurahan_code: KelurahanCode
    year: int = Field(ge=2000, le=2100)
    population: int = Field(ge=1, le=10_000_000)


def rate_per_100k(count: float, population: int) -> float | None:
    """count per 100,000 people; None without a population."""
    return count * 100_000 / population if population > 0 else None


MODULE = CivicModule(
    name="population",
    model=PopulationRow,
    table=schema.civic_population,
    key=("kelurahan_code", "year"),
    help="residents per kelurahan per year (for rates per 100,000)",
)
