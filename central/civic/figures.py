"""Civic figures per area for the merged summaries: cases, beds, pharmacy stock, PPKM level.

Computed for one local day `today` from the read side (central/civic/read.py says what each
figure means: the report, the open data and the rules read the same), per kelurahan and rolled
up to its kecamatan and the city (pure Python sums):

- cases (city residents): confirmed and active as of today, new_7d over the week;
  weekly_rate_per_100k = new_7d × 100,000 / population summed over the kelurahan having both
  (the same figures as the `ppkm_level` rule); ppkm_level from the rules' bounds. A kelurahan
  carries its own rate and its kecamatan's level (PPKM levels are set per kecamatan);
- beds: per hospital and room type the newest row dated in [today − max_age_days, today],
  counted in the kelurahan the hospital is in; occupancy = used / beds;
- pharmacy: masks and hand sanitizer in stock now, summed; pharmacies reporting and those with
  fewer masks than the mask_stock rule's low_stock.

Rows of a kelurahan outside the area registry count in the city only (as in the daily report
and the rules' city-wide bed occupancy), never in a kecamatan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from sqlalchemy import Connection

from central.civic import read
from central.civic.read import ppkm_level

# ("kelurahan" | "kecamatan" | "city", code) → the area's civic payload ("city" has code "")
AreaCivic = dict[tuple[str, str], dict[str, Any]]


class _Ppkm(Protocol):
    @property
    def bounds(self) -> tuple[float, float, float]: ...


class _Beds(Protocol):
    @property
    def max_age_days(self) -> int: ...


class _MaskStock(Protocol):
    @property
    def low_stock(self) -> int: ...


class CivicRules(Protocol):
    """What the civic figures take from the rules (central.rules.model.Rules has it)."""

    @property
    def ppkm(self) -> _Ppkm: ...
    @property
    def bed_occupancy(self) -> _Beds: ...
    @property
    def mask_stock(self) -> _MaskStock: ...


@dataclass(slots=True)
class _Sums:
    confirmed: int | None = None
    active: int | None = None
    new_7d: int | None = None
    rate_cases: int = 0  # new_7d of kelurahan with a population
    rate_pop: int = 0
    population: int | None = None
    beds: list[int] | None = None  # total, used, free
    mask: int | None = None
    sanitizer: int | None = None
    pharmacies: set[str] = field(default_factory=set)
    low_stock: set[str] = field(default_factory=set)

    def add(self, o: _Sums) -> None:
        self.confirmed = _plus(self.confirmed, o.confirmed)
        self.active = _plus(self.active, o.active)
        self.new_7d = _plus(self.new_7d, o.new_7d)
        self.rate_cases += o.rate_cases
        self.rate_pop += o.rate_pop
        self.population = _plus(self.population, o.population)
        if o.beds is not None:
            self.beds = [a + b for a, b in zip(self.beds or [0, 0, 0], o.beds, strict=True)]
        self.mask = _plus(self.mask, o.mask)
        self.sanitizer = _plus(self.sanitizer, o.sanitizer)
        self.pharmacies |= o.pharmacies
        self.low_stock |= o.low_stock


def _plus(a: int | None, b: int | None) -> int | None:
    return a if b is None else b if a is None else a + b


def _kelurahan_sums(conn: Connection, today: date, rules: CivicRules) -> dict[str, _Sums]:
    sums: dict[str, _Sums] = defaultdict(_Sums)
    pop = read.population(conn, today.year)
    for code, rc in read.resident_cases(conn, today).items():
        s = sums[code]
        s.confirmed, s.active, s.new_7d = rc.now.confirmed, rc.now.active, rc.new_7d
        if rc.new_7d is not None and pop.get(code):
            s.rate_cases, s.rate_pop = rc.new_7d, pop[code]
    for code, p in pop.items():
        sums[code].population = p
    for b in read.beds(conn, today, max_age_days=rules.bed_occupancy.max_age_days):
        sums[b.kelurahan_code].add(_Sums(beds=[b.beds, b.used, b.free]))
    for st in read.stock(conn):
        s = sums[st.kelurahan_code]
        s.pharmacies.add(st.pharmacy_id)
        if st.item == "mask":
            s.mask = (s.mask or 0) + st.quantity
            if st.quantity < rules.mask_stock.low_stock:
                s.low_stock.add(st.pharmacy_id)
        else:
            s.sanitizer = (s.sanitizer or 0) + st.quantity
    return sums


def _payload(s: _Sums, today: date, level: int | None) -> dict[str, Any]:
    r = read.rate_per_100k(s.rate_cases, s.rate_pop)
    rate = None if r is None else round(r, 2)
    b = s.beds
    return {
        "date": today.isoformat(),
        "cases": {"confirmed": s.confirmed, "active": s.active, "new_7d": s.new_7d,
                  "population": s.population, "weekly_rate_per_100k": rate},
        "ppkm_level": level,
        "beds": {"total": b[0] if b else None, "used": b[1] if b else None,
                 "free": b[2] if b else None,
                 "occupancy": round(b[1] / b[0], 4) if b and b[0] else None},
        "pharmacy": {"mask_stock": s.mask, "hand_sanitizer_stock": s.sanitizer,
                     "pharmacies": len(s.pharmacies), "low_mask_stock": len(s.low_stock)},
    }  # fmt: skip


def area_civic(
    conn: Connection, today: date, kecamatan_of: Mapping[str, str], rules: CivicRules
) -> AreaCivic:
    """("kelurahan" | "kecamatan" | "city", code) → civic figures ("city" has code "")."""
    kel = _kelurahan_sums(conn, today, rules)
    kec: dict[str, _Sums] = defaultdict(_Sums)
    city = _Sums()
    for code, s in kel.items():
        if code in kecamatan_of:  # rows of unknown kelurahan count in the city only
            kec[kecamatan_of[code]].add(s)
        city.add(s)

    def level(s: _Sums) -> int | None:
        rate = read.rate_per_100k(s.rate_cases, s.rate_pop)
        return None if rate is None else ppkm_level(rate, rules.ppkm.bounds)

    out: AreaCivic = {}
    for code, k in kecamatan_of.items():
        out[("kelurahan", code)] = _payload(kel.get(code, _Sums()), today, level(kec[k]))
    for k in set(kecamatan_of.values()):
        out[("kecamatan", k)] = _payload(kec[k], today, level(kec[k]))
    out[("city", "")] = _payload(city, today, level(city))
    return out
