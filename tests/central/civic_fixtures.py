"""Shared bits of the civic tests: a tiny area registry and file writers."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from central.civic.common import AreaCodes

KEL = ("33.74.01.1001", "33.74.01.1002", "33.74.01.1003")
AREAS = AreaCodes(kota="33.74", kelurahan=frozenset(KEL))
EXAMPLES = Path(__file__).resolve().parents[2] / "central" / "civic" / "examples"

CASE = {
    "kelurahan_code": KEL[0], "date": "2021-07-01", "residency": "resident", "confirmed": "10",
    "active": "2", "recovered": "7", "deaths": "1", "suspect": "3", "probable": "0",
}  # fmt: skip
BED = {
    "hospital_id": "rs-1", "date": "2021-07-01", "room_type": "isolasi", "hospital_name": "RS 1",
    "kelurahan_code": KEL[0], "beds": "10", "used": "6", "used_suspect": "2",
    "used_confirmed": "4", "queue": "1", "prepare": "1", "free": "3",
}  # fmt: skip
STOCK = {
    "pharmacy_id": "apotek-1", "item": "mask", "pharmacy_name": "Apotek 1",
    "kelurahan_code": KEL[1], "lat": "-6.98", "lng": "110.41", "quantity": "100",
    "unit": "box", "as_of": "2021-07-01T09:00:00+07:00",
}  # fmt: skip


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """A CSV with the union of the rows' keys as header (missing cells empty)."""
    header: list[str] = []
    for r in rows:
        header += [k for k in r if k not in header]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


def write_json(path: Path, rows: Sequence[Any]) -> Path:
    """A JSON list with one object a line, starting on line 2."""
    path.write_text("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n", encoding="utf-8")
    return path


def write_wilayah(path: Path) -> Path:
    """A code,name,level,parent_code area file with KEL in one kecamatan."""
    lines = ["code,name,level,parent_code", "33.74,Kota Semarang,kota,",
             "33.74.01,Semarang Tengah,kecamatan,33.74"]  # fmt: skip
    lines += [f"{k},Kel {i},kelurahan,33.74.01" for i, k in enumerate(KEL)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def utc(s: str) -> datetime:
    """An ISO time without offset, read as UTC."""
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


def civic_row(updated: str, **row: Any) -> dict[str, Any]:
    """A civic table row with its bookkeeping columns (written `updated` UTC, by "test")."""
    return {**row, "schema_version": 1, "updated_at": utc(updated), "updated_by": "test"}
