"""Civic writes on SQLite and PostgreSQL: idempotent re-imports, audited updates, all or nothing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from central.civic import MODULES, importer
from central.civic.importer import ImportResult, ImportRowsError, import_file
from central.store import schema
from tests.central.civic_fixtures import AREAS, BED, CASE, EXAMPLES, STOCK, write_csv, write_json

T0 = datetime(2021, 7, 1, 5, 0, tzinfo=UTC)


def _audit(engine: Engine) -> list[dict[str, Any]]:
    a = schema.civic_audit
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(a).order_by(a.c.id)).mappings()]


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_reimport_is_idempotent_and_a_change_is_an_audited_update(
    engine: Engine, tmp_path: Path
) -> None:
    rows = [CASE, {**CASE, "kelurahan_code": "33.74.01.1002"}]
    path = write_csv(tmp_path / "cases.csv", rows)
    cases = MODULES["cases"]
    assert import_file(engine, cases, path, AREAS, who="cli:ana") == ImportResult(2, 2, 0, 0, 0)
    assert import_file(engine, cases, path, AREAS, who="cli:ana") == ImportResult(2, 0, 0, 2, 0)
    assert _count(engine, schema.civic_cases) == 2 and len(_audit(engine)) == 2

    changed = write_json(tmp_path / "cases.json", [{**CASE, "active": "1", "recovered": "8"},
                                                   rows[1]])  # fmt: skip
    assert import_file(engine, cases, changed, AREAS, who="cli:budi") == ImportResult(2, 0, 1, 1, 0)
    audit = _audit(engine)
    assert [(a["action"], a["who"], a["module"]) for a in audit] == [
        ("insert", "cli:ana", "cases"), ("insert", "cli:ana", "cases"),
        ("update", "cli:budi", "cases"),
    ]  # fmt: skip
    last = audit[-1]
    assert json.loads(last["record_key"]) == {
        "kelurahan_code": "33.74.01.1001",
        "date": "2021-07-01",
        "residency": "resident",
    }
    assert json.loads(last["old_json"]) == {"active": 2, "recovered": 7}
    assert json.loads(last["new_json"]) == {"active": 1, "recovered": 8}
    assert last["at"].tzinfo is not None
    first = json.loads(audit[0]["new_json"])
    assert (
        first["confirmed"] == 10 and first["schema_version"] == 1 and audit[0]["old_json"] is None
    )
    c = schema.civic_cases.c
    with engine.connect() as conn:
        row = conn.execute(select(schema.civic_cases).where(c.kelurahan_code == "33.74.01.1001")
                           ).mappings().one()  # fmt: skip
    assert (row["active"], row["recovered"], row["updated_by"]) == (1, 8, "cli:budi")
    assert row["date"] == date(2021, 7, 1) and row["schema_version"] == 1


def test_one_bad_row_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    good = [{**BED, "date": f"2021-07-{d:02d}"} for d in range(1, 20)]
    path = write_csv(tmp_path / "beds.csv", [*good, {**BED, "used": "99"}])
    with pytest.raises(ImportRowsError):
        import_file(engine, MODULES["beds"], path, AREAS, who="cli:ana")
    assert _count(engine, schema.civic_beds) == 0 and _audit(engine) == []


def test_a_database_failure_mid_file_rolls_everything_back(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(
        tmp_path / "beds.csv", [{**BED, "date": f"2021-07-{d:02d}"} for d in (1, 2, 3)]
    )
    real, calls = importer._audit, []

    def failing(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        real(*args, **kwargs)

    monkeypatch.setattr(importer, "_audit", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(engine, MODULES["beds"], path, AREAS, who="cli:ana")
    assert _count(engine, schema.civic_beds) == 0 and _audit(engine) == []


def test_pharmacy_stock_newest_report_wins(engine: Engine, tmp_path: Path) -> None:
    pharmacy = MODULES["pharmacy"]
    noon = {**STOCK, "quantity": "40", "as_of": "2021-07-01T12:00:00+07:00"}
    assert import_file(engine, pharmacy, write_json(tmp_path / "a.json", [noon]), AREAS,
                       who="api:apotek-1").inserted == 1  # fmt: skip
    late_morning = write_json(tmp_path / "b.json", [STOCK])  # 09:00 report arriving late
    assert import_file(engine, pharmacy, late_morning, AREAS, who="cli:ana").stale == 1
    evening = {**STOCK, "quantity": "0", "as_of": "2021-07-01T11:00:00Z"}  # 18:00 WIB
    assert import_file(engine, pharmacy, write_json(tmp_path / "c.json", [evening]), AREAS,
                       who="cli:ana").updated == 1  # fmt: skip
    with engine.connect() as conn:
        q, as_of = conn.execute(select(schema.civic_pharmacy_stock.c.quantity,
                                       schema.civic_pharmacy_stock.c.as_of)).one()  # fmt: skip
    assert q == 0 and as_of == datetime(2021, 7, 1, 11, 0, tzinfo=UTC)
    assert json.loads(_audit(engine)[-1]["new_json"]) == {
        "as_of": "2021-07-01T11:00:00+00:00",
        "quantity": 0,
    }


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports_its_example_twice(engine: Engine, name: str) -> None:
    (path,) = EXAMPLES.glob(f"{name}.*")
    module = MODULES[name]
    first = import_file(engine, module, path, AREAS, who="cli:ana")
    assert first.inserted == first.rows > 0
    again = import_file(engine, module, path, AREAS, who="cli:ana")
    assert again.unchanged == again.rows
    assert _count(engine, module.table) == first.rows == len(_audit(engine))
