"""Civic data modules: cases, hospital beds, pharmacy stock, population, entries, staples, aid.

Each is a versioned row model, a table keyed for idempotency and a name for
`siaga central import MODULE FILE`; `central.civic.importer` validates and writes them.
"""

from __future__ import annotations

from central.civic import aid, beds, cases, entries, pharmacy, population, staples
from central.civic.common import CivicModule

MODULES: dict[str, CivicModule] = {
    m.name: m
    for m in (
        cases.MODULE, beds.MODULE, pharmacy.MODULE, population.MODULE, entries.MODULE,
        staples.MODULE, aid.MODULE,
    )
}  # fmt: skip
