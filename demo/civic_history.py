"""Four weeks of SYNTHETIC civic history for the demo's city page (`/kota`).

The sample files (central/civic/examples) hold one or two days: enough for the rules and the
summaries, not for a plot over time. The demo adds, for the days before them, people entering
at four entry points, staple prices and stock at three markets, aid from the three sources, and
cumulative cases of the two sample kelurahan, all made up (smooth trends with a fixed seed) and
written through the importer's validation under the same audit name as the samples. The numbers
mean nothing about Semarang; the page labels nothing as real, and the demo says it is synthetic.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy.engine import Engine

from central.civic import MODULES
from central.civic.common import AreaCodes, RawRow
from central.civic.importer import validate_rows, write_rows
from central.civic.samples import WHO

HISTORY_DAYS = 26  # today − 27 … today − 2; the sample files fill today − 1 and today
ENTRY_POINTS = {"terminal-terboyo": 1800, "stasiun-tawang": 2400, "stasiun-poncol": 1300,
                "gerbang-tol-kalikangkung": 5200}  # fmt: skip
MARKETS = {  # market id: (name, kelurahan)
    "pasar-johar": ("Pasar Johar", "33.74.01.1010"),
    "pasar-karangayu": ("Pasar Karangayu", "33.74.13.1012"),
    "pasar-peterongan": ("Pasar Peterongan", "33.74.07.1007"),
}
COMMODITIES = {"beras_medium": ("kg", 10_500, 12_000), "minyak_goreng": ("litre", 14_000, 3_500),
               "gula_pasir": ("kg", 13_500, 2_000), "cabai_merah": ("kg", 38_000, 400)}  # fmt: skip
# The sample kelurahan's cumulative cases on the day before today (central/civic/examples).
CASES_END = {"33.74.01.1001": (120, 14, 100, 6), "33.74.01.1002": (85, 7, 75, 3)}


# kelurahan → (the day of its first real row, confirmed, active, recovered, deaths on it)
Anchors = dict[str, tuple[date, int, int, int, int]]


def _anchors(today: date, extra: Anchors | None) -> Anchors:
    yesterday = today - timedelta(days=1)
    return {**{k: (yesterday, *v) for k, v in CASES_END.items()}, **(extra or {})}


def history_rows(today: date, *, kota: str, extra: Anchors | None = None,
                 seed: int = 21) -> dict[str, list[dict[str, object]]]:  # fmt: skip
    """Rows per civic module for the HISTORY_DAYS days ending two days before `today`; cases
    of each anchored kelurahan (the sample ones, and `extra`) for the days before its anchor,
    rising to it."""
    rng = random.Random(seed)
    days = [today - timedelta(days=HISTORY_DAYS + 1 - i) for i in range(HISTORY_DAYS)]
    entries = [{"date": d.isoformat(), "entry_point": p,
                "people": int(base * (1.25 if d.weekday() >= 4 else 1.0) * rng.uniform(0.85, 1.1))}
               for d in days for p, base in ENTRY_POINTS.items()]  # fmt: skip
    staples = []
    for market, (name, kel) in MARKETS.items():
        for commodity, (unit, price, stock) in COMMODITIES.items():
            level = rng.uniform(0.95, 1.05)
            for i, d in enumerate(days):
                trend = 1 + 0.004 * i if commodity == "cabai_merah" else 1.0
                staples.append({
                    "market_id": market, "date": d.isoformat(), "commodity": commodity,
                    "market_name": name, "kind": "market", "kelurahan_code": kel, "unit": unit,
                    "price_idr": round(price * level * trend * rng.uniform(0.99, 1.01), -2),
                    "stock": round(stock * level * rng.uniform(0.7, 1.2)),
                })  # fmt: skip
    aid = []
    for i, d in enumerate(days[::3]):
        for source, item, unit, qty in (("regional_government", "beras", "kg", 5000),
                                        ("central_government", "masker_kain", "pcs", 20_000),
                                        ("private", "paket_sembako", "paket", 300)):  # fmt: skip
            aid.append({"date": d.isoformat(), "direction": "received", "source": source,
                        "area_code": kota, "item": item, "unit": unit,
                        "quantity": qty})  # fmt: skip
            aid.append({"date": (d + timedelta(days=1)).isoformat(), "direction": "distributed",
                        "source": source, "area_code": list(CASES_END)[i % 2], "item": item,
                        "unit": unit, "quantity": qty * rng.uniform(0.5, 0.9) // 1})  # fmt: skip
    cases = []
    for kel, (anchor, confirmed, _active, recovered, deaths) in _anchors(today, extra).items():
        for d in days:
            back = (anchor - d).days  # days before the anchor row
            if back <= 0:
                continue
            c = confirmed - back
            dead = deaths - (1 if back > 15 else 0)
            rec = min(recovered - back // 2 - 3, c - dead)
            cases.append({"kelurahan_code": kel, "date": d.isoformat(), "residency": "resident",
                          "confirmed": c, "active": c - rec - dead, "recovered": rec,
                          "deaths": dead})  # fmt: skip
    return {"entries": entries, "staples": staples, "aid": aid, "cases": cases}


def load_history(engine: Engine, areas: AreaCodes, today: date,
                 extra: Anchors | None = None) -> dict[str, int]:  # fmt: skip
    """Validate (as an import would) and write history_rows; rows per module."""
    written = {}
    for name, raws in history_rows(today, kota=areas.kota, extra=extra).items():
        module = MODULES[name]
        valid = validate_rows(module, [RawRow(i + 1, r) for i, r in enumerate(raws)], areas,
                              where=f"synthetic {name} history")  # fmt: skip
        written[name] = write_rows(engine, module, valid, who=WHO).rows
    return written
