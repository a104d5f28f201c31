"""Civic figures per area for the merged summaries: cases, beds, pharmacy stock, PPKM level.

Computed for one local day `today` from the civic tables, per kelurahan and rolled up to its
kecamatan and the city (SQL reads, then pure Python sums):

- cases (city residents): the newest cumulative row dated ≤ today per kelurahan (confirmed,
  active); new_7d = confirmed at today − confirmed at today − 7 (both rows needed);
  weekly_rate_per_100k = new_7d × 100,000 / population summed over the kelurahan having both
  (the same figures as the `ppkm_level` rule); ppkm_level from the rules' bounds. A kelurahan
  carries its own rate and its kecamatan's level (PPKM levels are set per kecamatan);
- beds: per hospital and room type the newest row dated in [today − max_age_days, today],
  counted in the kelurahan the hospital is in; occupancy = used / beds;
- pharmacy: masks and hand sanitizer in stock now, summed; pharmacies reporting and those with
  fewer masks than the mask_stock rule's low_stock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, select

from central import schema
from central.report.build import newest_rows
from central.rules.evaluate import ppkm_level
from central.rules.model import Rules


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


def population_by_kelurahan(conn: Connection, year: int) -> dict[str, int]:
    """Per kelurahan: the population of the newest year ≤ year, else of the oldest after it."""
    pc = schema.civic_population.c
    years: dict[str, dict[int, int]] = defaultdict(dict)
    for code, y, pop in conn.execute(select(pc.kelurahan_code, pc.year, pc.population)):
        years[code][y] = pop
    out: dict[str, int] = {}
    for code, by_year in years.items():
        upto = [y for y in by_year if y <= year]
        out[code] = by_year[max(upto) if upto else min(by_year)]
    return out


def resident_cases(conn: Connection, day: date) -> dict[str, dict[str, Any]]:
    """Per kelurahan: residents' newest cumulative case row dated ≤ day."""
    t = schema.civic_cases
    q = newest_rows(t, ("kelurahan_code", "residency"), day).where(t.c.residency == "resident")
    return {r["kelurahan_code"]: dict(r) for r in conn.execute(q).mappings()}


def _kelurahan_sums(conn: Connection, today: date, rules: Rules) -> dict[str, _Sums]:
    sums: dict[str, _Sums] = defaultdict(_Sums)
    now_rows, before = resident_cases(conn, today), resident_cases(conn, today - timedelta(7))
    pop = population_by_kelurahan(conn, today.year)
    for code, r in now_rows.items():
        s = sums[code]
        s.confirmed, s.active = int(r["confirmed"]), int(r["active"])
        if code in before:
            s.new_7d = s.confirmed - int(before[code]["confirmed"])
            if pop.get(code):
                s.rate_cases, s.rate_pop = s.new_7d, pop[code]
    for code, p in pop.items():
        sums[code].population = p
    oldest = today - timedelta(days=rules.bed_occupancy.max_age_days)
    t = schema.civic_beds
    for b in conn.execute(newest_rows(t, ("hospital_id", "room_type"), today)).mappings():
        if b["date"] >= oldest:
            sums[b["kelurahan_code"]].add(_Sums(beds=[int(b["beds"]), int(b["used"]),
                                                      int(b["free"])]))  # fmt: skip
    ph = schema.civic_pharmacy_stock.c
    for pid, kel, item, qty in conn.execute(
        select(ph.pharmacy_id, ph.kelurahan_code, ph.item, ph.quantity)
    ):
        s = sums[kel]
        s.pharmacies.add(pid)
        if item == "mask":
            s.mask = (s.mask or 0) + qty
            if qty < rules.mask_stock.low_stock:
                s.low_stock.add(pid)
        else:
            s.sanitizer = (s.sanitizer or 0) + qty
    return sums


def _payload(s: _Sums, today: date, level: int | None) -> dict[str, Any]:
    rate = round(s.rate_cases * 100_000 / s.rate_pop, 2) if s.rate_pop else None
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
    conn: Connection, today: date, kecamatan_of: Mapping[str, str], rules: Rules
) -> dict[tuple[str, str], dict[str, Any]]:
    """("kelurahan" | "kecamatan" | "city", code) → civic figures ("city" has code "")."""
    kel = _kelurahan_sums(conn, today, rules)
    kec: dict[str, _Sums] = defaultdict(_Sums)
    city = _Sums()
    for code, s in kel.items():
        if code in kecamatan_of:  # rows of unknown kelurahan count nowhere
            kec[kecamatan_of[code]].add(s)
            city.add(s)

    def level(s: _Sums) -> int | None:
        if not s.rate_pop:
            return None
        return ppkm_level(s.rate_cases * 100_000 / s.rate_pop, rules.ppkm.bounds)

    out: dict[tuple[str, str], dict[str, Any]] = {}
    for code, k in kecamatan_of.items():
        out[("kelurahan", code)] = _payload(kel.get(code, _Sums()), today, level(kec[k]))
    for k in set(kecamatan_of.values()):
        out[("kecamatan", k)] = _payload(kec[k], today, level(kec[k]))
    out[("city", "")] = _payload(city, today, level(city))
    return out
