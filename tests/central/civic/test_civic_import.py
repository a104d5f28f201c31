"""Civic files: every bad row reported as FILE:LINE: field: reason, CSV and JSON alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from central.civic import MODULES
from central.civic.common import FileError, read_rows
from central.civic.importer import ImportRowsError, load_file, validate_rows
from central.civic.population import rate_per_100k
from tests.central.civic_fixtures import AREAS, BED, CASE, EXAMPLES, STOCK, write_csv, write_json

# (module, base row, changes (None: drop the field), field named, words in the reason)
BAD_ROWS: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    ("cases", CASE, {"kelurahan_code": "33.74.99.9999"}, "kelurahan_code", "unknown kelurahan"),
    ("cases", CASE, {"kelurahan_code": "3374011001"}, "kelurahan_code", "should match pattern"),
    ("cases", CASE, {"date": "2021-02-30"}, "date", "valid date"),
    ("cases", CASE, {"residency": "visitor"}, "residency", "'resident' or 'non_resident'"),
    ("cases", CASE, {"confirmed": "-1"}, "confirmed", "greater than or equal to 0"),
    ("cases", CASE, {"active": "many"}, "active", "valid integer"),
    ("cases", CASE, {"recovered": None}, "recovered", "Field required"),
    ("cases", CASE, {"deaths": "5"}, "active", "(2 + 7 + 5) exceeds confirmed (10)"),
    ("cases", CASE, {"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ("cases", CASE, {"residency": "non_resident"}, "residency", "is a city kelurahan"),
    ("cases", CASE, {"schema_version": "2"}, "schema_version", "less than or equal to 1"),
    ("beds", BED, {"used": "11"}, "used", "exceeds beds"),
    ("beds", BED, {"used_confirmed": "5"}, "used_suspect", "exceeds used"),
    ("beds", BED, {"free": "4"}, "free", "exceeds beds"),
    ("beds", BED, {"room_type": "ICU Tekanan"}, "room_type", "should match pattern"),
    ("beds", BED, {"hospital_id": "rs 1/2"}, "hospital_id", "should match pattern"),
    ("pharmacy", STOCK, {"item": "vitamin"}, "item", "'mask' or 'hand_sanitizer'"),
    ("pharmacy", STOCK, {"lat": "91"}, "lat", "less than or equal to 90"),
    ("pharmacy", STOCK, {"as_of": "2021-07-01T09:00:00"}, "as_of", "timezone info"),
    ("pharmacy", STOCK, {"quantity": "1e12"}, "quantity", "valid integer"),
]


def _with(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not None}


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize(("module", "base", "changes", "field", "reason"), BAD_ROWS)
def test_bad_row_is_named_with_its_line(
    tmp_path: Path, fmt: str, module: str, base: dict[str, Any], changes: dict[str, Any],
    field: str, reason: str,
) -> None:  # fmt: skip
    good = [base, _with(base, {"date": "2021-07-02"} if "date" in base else {"item":
            "hand_sanitizer"})]  # fmt: skip
    rows = [*good, _with(base, changes)]  # the bad row is the third: line 4 of either file
    path = tmp_path / f"in.{fmt}"
    (write_csv if fmt == "csv" else write_json)(path, rows)
    with pytest.raises(ImportRowsError) as err:
        load_file(MODULES[module], path, AREAS)
    assert err.value.total == 1, err.value.errors
    (line,) = err.value.errors
    assert line.startswith(f"{path}:4: {field}: "), line
    assert reason in line, line


def test_every_problem_listed_up_to_a_cap(tmp_path: Path) -> None:
    rows = [_with(CASE, {"date": f"2021-07-{d:02d}", "confirmed": "x", "active": "-1"})
            for d in range(1, 31)]  # fmt: skip
    path = write_csv(tmp_path / "many.csv", rows)
    with pytest.raises(ImportRowsError) as err:
        validate_rows(MODULES["cases"], read_rows(path), AREAS, where="many.csv", max_errors=25)
    assert err.value.total == 60 and len(err.value.errors) == 25
    assert err.value.errors[:2] == [
        "many.csv:2: confirmed: Input should be a valid integer, unable to parse string as an "
        "integer",
        "many.csv:2: active: Input should be greater than or equal to 0",
    ]
    assert str(err.value).endswith("... and 35 more")


def test_duplicate_key_in_one_file(tmp_path: Path) -> None:
    path = write_json(tmp_path / "dup.json", [CASE, _with(CASE, {"suspect": "4"})])
    with pytest.raises(ImportRowsError) as err:
        load_file(MODULES["cases"], path, AREAS)
    assert err.value.errors == [
        f"{path}:3: kelurahan_code, date, residency: duplicate key: also on line 2"
    ]


def test_csv_multiline_cell_and_json_layout_keep_true_lines(tmp_path: Path) -> None:
    csv_path = tmp_path / "beds.csv"
    csv_path.write_text(
        "hospital_id,date,room_type,hospital_name,kelurahan_code,beds,used,free\n"
        'rs-1,2021-07-01,isolasi,"RS\nSatu",33.74.01.1001,5,1,1\n'
        "rs-1,2021-07-02,isolasi,,33.74.01.1001,5,9,1\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRowsError) as err:
        load_file(MODULES["beds"], csv_path, AREAS)
    assert err.value.errors == [f"{csv_path}:4: used: used (9) exceeds beds (5)"]
    js = tmp_path / "cases.json"
    js.write_text('[{"kelurahan_code": "33.74.01.1001",\n "date": "2021-07-01"},\n\n  42]\n')
    with pytest.raises(ImportRowsError) as err:
        load_file(MODULES["cases"], js, AREAS)
    assert f"{js}:1: residency: Field required" in err.value.errors
    assert err.value.errors[-1] == f"{js}:4: (row): expected an object, got int"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("x.txt", "a,b\n", "unknown file type '.txt'"),
        ("x.csv", "", "empty file"),
        ("x.csv", "date,date\n1,2\n", ":1: duplicate column(s) date"),
        ("x.json", '{"rows": []}', ":1: expected a JSON list of objects"),
        ("x.json", '[\n{"a": 1},\n{"a": 2\n]', ":4: invalid JSON"),
        ("x.json", "[{}] []", ":1: invalid JSON: text after the list"),
        ("x.csv", b"\xff\xfe".decode("latin-1"), "cannot read"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(FileError, match=None) as err:
        read_rows(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value), str(err.value)


def test_sirs_names_bom_and_empty_cells(tmp_path: Path) -> None:
    path = tmp_path / "sirs.csv"
    path.write_text(
        "\ufeffhospital_id,date,room_type,kelurahan_code,jumlah,terpakai,terpakai_suspek,"
        "terpakai_konfirmasi,antrian,prepare,kosong,hospital_name\n"
        "rs-1,2021-07-01,icu,33.74.01.1001,10,8,3,5,2,0,2,\n",
        encoding="utf-8",
    )
    (row,) = load_file(MODULES["beds"], path, AREAS)
    values = row.values()
    assert values["beds"] == 10 and values["used_confirmed"] == 5 and values["free"] == 2
    assert values["hospital_name"] is None and values["schema_version"] == 1


def test_non_resident_cases_use_home_codes_outside_the_city(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        [_with(CASE, {"residency": "non_resident", "kelurahan_code": "33.22.05.2001"})],
    )
    (row,) = load_file(MODULES["cases"], path, AREAS)
    assert row.values()["residency"] == "non_resident"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_examples_are_valid(name: str) -> None:
    (path,) = EXAMPLES.glob(f"{name}.*")
    assert load_file(MODULES[name], path, AREAS)


def test_rate_per_100k() -> None:
    assert rate_per_100k(17, 1_702_379) == pytest.approx(0.99861, rel=1e-4)
    assert rate_per_100k(3, 0) is None


def test_a_huge_header_is_read_once_and_its_problems_named(tmp_path: Path) -> None:
    # 100,000 columns (one duplicated at the end): the duplicate check counts each name once,
    # where a per-column count made this quadratic (it never finished).
    names = [f"c{i}" for i in range(100_000)]
    path = tmp_path / "cases.csv"
    path.write_text(",".join([*names, "c7"]) + "\n" + ",".join(["1"] * 100_001) + "\n")
    with pytest.raises(FileError) as err:
        read_rows(path)
    assert str(err.value) == f"{path}:1: duplicate column(s) c7"
    path.write_text(",".join(names) + "\n" + ",".join(["1"] * 100_000) + "\n")
    with pytest.raises(ImportRowsError) as rows_err:
        load_file(MODULES["cases"], path, AREAS)
    assert any("kelurahan_code: Field required" in e for e in rows_err.value.errors)
