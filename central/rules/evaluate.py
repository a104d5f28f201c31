"""Pure evaluation: figures + rules + now (+ which alerts are open) → the alerts that hold now.

No I/O. The alerts open before matter to low compliance only: its hysteresis (central/rules/
evidence.py) judges an open alert by the resolving test and a closed one by the opening test; an
open one without evidence now is returned with `hold` set, which the alert store leaves as is.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from central.civic.read import ppkm_level, rate_per_100k
from central.rules import evidence as ev
from central.rules.gather import Figures, KelurahanFigures
from central.rules.model import LowComplianceRule, Rules, Severity

CITY: Final = "city"
ACTIONS: Final = {
    "low_compliance": "mask enforcement operation",
    "mask_stock": "distribute masks",
    "bed_occupancy": "prepare isolation beds",
    "ppkm_level": "apply PPKM measures",
}
EARTH_RADIUS_KM: Final = 6371.0088


@dataclass(frozen=True, slots=True)
class AlertDecision:
    """One rule firing for one area, with the reason and the figures behind it."""

    rule: str
    area_code: str
    severity: Severity
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)
    hold: bool = False  # an open alert with no evidence now: keep it as it is (no update)

    @property
    def action(self) -> str:
        return ACTIONS[self.rule]

    @property
    def key(self) -> tuple[str, str]:
        return self.rule, self.area_code


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lng, lat) points."""
    lng1, lat1, lng2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def _compliance_figures(k: KelurahanFigures, c: float) -> dict[str, Any]:
    return {"compliance": round(c, 4), "people_seen": k.people_seen, "masked": k.masked,
            "unmasked": k.unmasked, "judged": k.judged, "window_min": k.window_min}  # fmt: skip


def _lows(
    figures: Figures, lc: LowComplianceRule, rule: str, open_keys: Collection[tuple[str, str]]
) -> tuple[dict[str, ev.Evidence], set[str]]:
    """Kelurahan low on evidence for `rule` (its own open alerts set the hysteresis), and those
    whose open alert has no evidence now (to hold)."""
    low: dict[str, ev.Evidence] = {}
    hold: set[str] = set()
    for code, k in figures.kelurahan.items():
        e = ev.evidence(k, lc, figures.calibration)
        was_open = (rule, code) in open_keys
        state = ev.low_state(e, lc, was_open=was_open)
        if state and e is not None:
            low[code] = e
        elif state is None and was_open:
            hold.add(code)
    return low, hold


def _hold(rule: str, code: str, severity: Severity) -> AlertDecision:
    return AlertDecision(rule, code, severity, "", hold=True)


def evaluate(
    figures: Figures, rules: Rules, now: datetime, open_keys: Collection[tuple[str, str]] = ()
) -> list[AlertDecision]:
    """Every alert that holds now, sorted by (rule, area); open_keys: the (rule, area) of the
    alerts open before this evaluation (low compliance's hysteresis)."""
    out: list[AlertDecision] = []
    lc, ms = rules.low_compliance, rules.mask_stock
    if lc.enabled:
        low, hold = _lows(figures, lc, "low_compliance", open_keys)
        out += [_hold("low_compliance", code, lc.severity) for code in hold]
        for code, e in low.items():
            k = figures.kelurahan[code]
            rising = (
                k.cases_week is not None
                and k.cases_prev_week is not None
                and k.cases_week > k.cases_prev_week
            )
            if lc.require_rising_cases and not rising:
                continue
            figs = _compliance_figures(k, e.ratio) | ev.figures(e) | {
                "cases_week": k.cases_week, "cases_prev_week": k.cases_prev_week,
                "threshold": lc.threshold,
            }  # fmt: skip
            reason = ev.describe(e, k, lc)
            if rising:
                reason += (f"; kasus mingguan naik / weekly cases rising "
                           f"{k.cases_prev_week} → {k.cases_week}")  # fmt: skip
            out.append(AlertDecision("low_compliance", code, lc.severity, reason, figs))
    if ms.enabled:
        low, hold = _lows(figures, lc, "mask_stock", open_keys)
        out += [_hold("mask_stock", code, ms.severity) for code in hold]
        for code, e in low.items():
            c = e.ratio
            k = figures.kelurahan[code]
            near = []
            for p in figures.pharmacies:
                if p.quantity >= ms.low_stock:
                    continue
                d = distance_km(k.centroid, (p.lng, p.lat)) if k.centroid else None
                if p.kelurahan_code == code or (d is not None and d <= ms.radius_km):
                    near.append({"pharmacy_id": p.pharmacy_id, "name": p.name,
                                 "kelurahan_code": p.kelurahan_code, "quantity": p.quantity,
                                 "distance_km": None if d is None else round(d, 3)})  # fmt: skip
            if near:
                figs = _compliance_figures(k, c) | {
                    "low_stock": ms.low_stock, "radius_km": ms.radius_km, "pharmacies": near,
                }  # fmt: skip
                shops = "1 pharmacy" if len(near) == 1 else f"{len(near)} pharmacies"
                reason = (
                    f"mask compliance {c:.0%} and {shops} within "
                    f"{ms.radius_km:g} km with fewer than {ms.low_stock} masks"
                )
                out.append(AlertDecision("mask_stock", code, ms.severity, reason, figs))
    bo = rules.bed_occupancy
    if bo.enabled and figures.beds:

        def beds(area: str, label: str, n: int, used: int) -> None:
            occ = used / n
            sev: Severity | None = (
                "critical" if occ > bo.critical else "warn" if occ > bo.warn else None
            )
            if sev is not None:
                limit = bo.critical if sev == "critical" else bo.warn
                reason = f"{label} isolation beds {occ:.0%} occupied ({used}/{n}) > {limit:.0%}"
                figs = {"beds": n, "used": used, "occupancy": round(occ, 4),
                        "warn": bo.warn, "critical": bo.critical}  # fmt: skip
                out.append(AlertDecision("bed_occupancy", area, sev, reason, figs))

        total = sum(b.beds for b in figures.beds)
        if total > 0:
            beds(CITY, "city", total, sum(b.used for b in figures.beds))
        for b in figures.beds:
            if b.beds >= bo.min_beds:
                beds(f"hospital/{b.hospital_id}", b.name, b.beds, b.used)
    pp = rules.ppkm
    if pp.enabled:
        cases: dict[str, int] = defaultdict(int)
        pop: dict[str, int] = defaultdict(int)
        for k in figures.kelurahan.values():
            if k.cases_week is not None and k.population:
                cases[k.kecamatan_code] += k.cases_week
                pop[k.kecamatan_code] += k.population
        for kec in sorted(pop):
            rate = rate_per_100k(cases[kec], pop[kec]) or 0.0
            level = ppkm_level(rate, pp.bounds)
            if level >= pp.alert_level:
                sev: Severity = "critical" if level >= pp.critical_level else "warn"
                reason = f"PPKM level {level}: {rate:.1f} weekly cases per 100,000"
                figs = {"level": level, "rate_per_100k": round(rate, 2), "cases_week": cases[kec],
                        "population": pop[kec], "bounds": list(pp.bounds)}  # fmt: skip
                out.append(AlertDecision("ppkm_level", kec, sev, reason, figs))
    return sorted(out, key=lambda d: d.key)
