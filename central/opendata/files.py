"""Open data files: one CSV + JSON per day and table, cumulative files, a data dictionary.

In the output folder:

- `kelurahan-daily-YYYY-MM-DD.{csv,json}`: one row per kelurahan (KELURAHAN_FIELDS);
- `aid-daily-YYYY-MM-DD.{csv,json}`: aid distributed per kelurahan, source and item;
- `kelurahan-daily.{csv,json}`, `aid-daily.{csv,json}`: every day written so far, oldest first;
- `datadictionary.{json,csv}`: each table's fields with type, unit and description.

Columns keep the fields' order; an empty CSV cell (JSON null) means no data. Every file is
written atomically (temporary file + rename); a day's kelurahan JSON is written last and marks
the day complete (catch-up looks for it).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from central.daily import atomic_write
from central.opendata.build import (
    AID_FIELDS,
    AID_KEY,
    KELURAHAN_FIELDS,
    PRIMARY_KEY,
    Field,
    OpenData,
    Value,
)

OPENDATA_SCHEMA: Final = "siaga.opendata/1"
LICENSE: Final = "CC-BY-4.0"
TABLES: Final = {"kelurahan-daily": KELURAHAN_FIELDS, "aid-daily": AID_FIELDS}
KEYS: Final = {"kelurahan-daily": PRIMARY_KEY, "aid-daily": AID_KEY}
DESCRIPTIONS: Final = {
    "kelurahan-daily": "Per kelurahan and day: mask compliance seen by the city's cameras, "
    "COVID-19 cases of residents, isolation beds, pharmacy stock, population and rates per "
    "100,000. Aggregates only: no person, camera, hospital or pharmacy is named.",
    "aid-daily": "Aid distributed per kelurahan, day, source and item (daily totals).",
}
DAY_MARKER = re.compile(r"^kelurahan-daily-(\d{4}-\d{2}-\d{2})\.json$")
_DAY_FILE = re.compile(r"^(?P<table>[a-z-]+)-(?P<day>\d{4}-\d{2}-\d{2})\.json$")


def _cell(v: Value) -> Any:
    return "" if v is None else v


def to_csv(fields: Sequence[Field], rows: Iterable[dict[str, Value]]) -> str:
    """A header row of field names, then one row per record in the fields' order."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([f.name for f in fields])
    for r in rows:
        w.writerow([_cell(r.get(f.name)) for f in fields])
    return buf.getvalue()


def to_json(table: str, rows: list[dict[str, Value]], **meta: Any) -> str:
    """{"schema", "table", …meta, "fields": [names], "records": [...]} as UTF-8 JSON."""
    doc = {"schema": OPENDATA_SCHEMA, "table": table, **meta,
           "fields": [f.name for f in TABLES[table]], "records": rows}  # fmt: skip
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def data_dictionary() -> dict[str, Any]:
    """Every table's description, primary key and fields (Frictionless-like)."""
    return {
        "schema": OPENDATA_SCHEMA,
        "license": LICENSE,
        "publisher": "Pemerintah Kota Semarang (Siaga)",
        "tables": {
            name: {
                "description": DESCRIPTIONS[name],
                "primary_key": list(KEYS[name]),
                "fields": [
                    {"name": f.name, "type": f.type, "unit": f.unit, "description": f.description}
                    for f in fields
                ],
            }
            for name, fields in TABLES.items()
        },
    }


def data_dictionary_csv() -> str:
    """table, field, type, unit, description: one row per field."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "field", "type", "unit", "description"])
    for name, fields in TABLES.items():
        for f in fields:
            w.writerow([name, f.name, f.type, f.unit, f.description])
    return buf.getvalue()


def day_paths(out_dir: Path, day: Any) -> dict[str, Path]:
    """`{table}.{fmt}` → the day's file."""
    return {f"{t}.{fmt}": out_dir / f"{t}-{day.isoformat()}.{fmt}"
            for t in TABLES for fmt in ("csv", "json")}  # fmt: skip


def write_opendata(data: OpenData, out_dir: Path) -> dict[str, Path]:
    """Write the day's files (its kelurahan JSON last), then the cumulative and dictionary files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = day_paths(out_dir, data.day)
    meta = {"date": data.day.isoformat(), "cutoff": data.cutoff.isoformat(),
            "generated_at": data.generated_at.isoformat().replace("+00:00", "Z"),
            "min_people_for_ratio": data.min_people_for_ratio, "license": LICENSE}  # fmt: skip
    tables = {"kelurahan-daily": data.kelurahan, "aid-daily": data.aid}
    for name in ("aid-daily", "kelurahan-daily"):
        atomic_write(paths[f"{name}.csv"], to_csv(TABLES[name], tables[name]))
        atomic_write(paths[f"{name}.json"], to_json(name, tables[name], **meta))
    paths |= write_cumulative(out_dir)
    return paths


def read_day(path: Path) -> list[dict[str, Value]]:
    """The records of one day's JSON file."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    records: list[dict[str, Value]] = doc["records"]
    return records


def write_cumulative(out_dir: Path) -> dict[str, Path]:
    """Rebuild `{table}.{csv,json}` from every day file, oldest first; and the dictionary."""
    days: dict[str, list[tuple[str, Path]]] = {t: [] for t in TABLES}
    for p in out_dir.iterdir():
        m = _DAY_FILE.match(p.name)
        if m and m.group("table") in TABLES:
            days[m.group("table")].append((m.group("day"), p))
    paths: dict[str, Path] = {}
    for table, found in days.items():
        rows = [r for _day, p in sorted(found) for r in read_day(p)]
        paths[f"{table}-all.csv"] = out_dir / f"{table}.csv"
        paths[f"{table}-all.json"] = out_dir / f"{table}.json"
        atomic_write(paths[f"{table}-all.csv"], to_csv(TABLES[table], rows))
        atomic_write(paths[f"{table}-all.json"], to_json(table, rows, license=LICENSE))
    paths["datadictionary.json"] = out_dir / "datadictionary.json"
    paths["datadictionary.csv"] = out_dir / "datadictionary.csv"
    atomic_write(paths["datadictionary.json"],
                 json.dumps(data_dictionary(), indent=1, ensure_ascii=False) + "\n")  # fmt: skip
    atomic_write(paths["datadictionary.csv"], data_dictionary_csv())
    return paths
