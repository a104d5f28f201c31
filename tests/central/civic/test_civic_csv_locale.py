"""Civic CSV files as spreadsheets save them under the Indonesian locale.

`;` between cells, decimal comma and dots grouping thousands, dd/mm/yyyy dates, UTF-8 with a
BOM (or Windows-1252), CRLF line ends: such a file imports to the very values of the ISO sample;
a cell in another format is refused as `FILE:LINE: column: ... value 'V': expected FORMAT`, and
nothing of the file is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from central.civic import MODULES, csv_locale
from central.civic.common import FileError, read_rows
from central.civic.importer import ImportResult, ImportRowsError, import_file, load_file
from central.store import schema
from tests.central.civic_fixtures import AREAS, EXAMPLES, STOCK, write_csv

BOM = "\ufeff"


def write_id(path: Path, lines: Sequence[str], *, bom: bool = True, eol: str = "\r\n",
             encoding: str = "utf-8") -> Path:  # fmt: skip
    """A file as a spreadsheet saves it: BOM, CRLF after every line (the last one too)."""
    path.write_bytes(
        ((BOM if bom else "") + "".join(line + eol for line in lines)).encode(encoding)
    )
    return path


def _values(module: str, path: Path) -> list[dict[str, Any]]:
    return [r.values() for r in load_file(MODULES[module], path, AREAS)]


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# The samples in central/civic/examples/, saved again by a spreadsheet under id-ID.
ID_FILES: dict[str, list[str]] = {
    "cases": [
        "kelurahan_code;date;residency;confirmed;active;recovered;deaths;suspect;probable",
        "33.74.01.1001;01/07/2021;resident;120;14;100;6;9;1",
        "33.74.01.1002;1/7/2021;resident;85;7;75;3;4;0",
        "33.22.05.2001;01-07-2021;non_resident;12;3;9;0;0;0",
    ],
    "beds": [
        "hospital_id;date;room_type;hospital_name;kelurahan_code;jumlah;terpakai;"
        "terpakai_suspek;terpakai_konfirmasi;antrian;prepare;kosong",
        "rsud-kmrt-wongsonegoro;01/07/2021;isolasi_tanpa_tekanan;RSUD K.R.M.T. Wongsonegoro;"
        "33.74.01.1001;120;98;20;78;6;2;20",
        'rsud-kmrt-wongsonegoro;2021-07-01;icu_tekanan_negatif;"RSUD K.R.M.T. Wongsonegoro";'
        "33.74.01.1001;12;12;0;12;3;0;0",
    ],
    "staples": [
        "market_id;date;commodity;market_name;kind;kelurahan_code;unit;price_idr;stock",
        "pasar-johar;01/07/2021;beras_medium;Pasar Johar;market;33.74.01.1003;kg;10.500;12.000",
        "pasar-johar;01/07/2021;minyak_goreng;Pasar Johar;market;33.74.01.1003;litre;"
        "14.000,00;3.500,0",
    ],
    "population": [
        "kelurahan_code;year;population",
        "33.74.01.1001;2021;7.408",
        "33.74.01.1002;2021;7921",
    ],
    "entries": [
        "date;entry_point;people",
        "01/07/2021;terminal-terboyo;1.830",
        "01/07/2021;stasiun-tawang;2.410",
    ],
}


@pytest.mark.parametrize("module", sorted(ID_FILES))
def test_id_locale_file_reads_as_the_iso_sample(tmp_path: Path, module: str) -> None:
    path = write_id(tmp_path / f"{module}.csv", ID_FILES[module])
    assert _values(module, path) == _values(module, EXAMPLES / f"{module}.csv")


@pytest.mark.parametrize("module", sorted(ID_FILES))
def test_id_locale_file_stores_what_the_iso_sample_stored(
    engine: Engine, tmp_path: Path, module: str
) -> None:
    mod = MODULES[module]
    n = len(ID_FILES[module]) - 1
    assert import_file(engine, mod, EXAMPLES / f"{module}.csv", AREAS, who="t") == ImportResult(
        n, n, 0, 0, 0
    )
    path = write_id(tmp_path / f"{module}.csv", ID_FILES[module])
    # Same key, same values: every row of the id-ID file is already stored as it is.
    assert import_file(engine, mod, path, AREAS, who="t") == ImportResult(n, 0, 0, n, 0)


def test_staples_thousands_and_decimal_comma_values(engine: Engine, tmp_path: Path) -> None:
    path = write_id(tmp_path / "staples.csv", ID_FILES["staples"])
    import_file(engine, MODULES["staples"], path, AREAS, who="t")
    t = schema.civic_staples
    with engine.connect() as conn:
        got = conn.execute(select(t.c.commodity, t.c.price_idr, t.c.stock, t.c.kelurahan_code)
                           .order_by(t.c.commodity)).all()  # fmt: skip
    assert [tuple(r) for r in got] == [
        ("beras_medium", 10500, 12000.0, "33.74.01.1003"),
        ("minyak_goreng", 14000, 3500.0, "33.74.01.1003"),
    ]


def test_decimal_comma_floats_and_untouched_text(tmp_path: Path) -> None:
    header = "pharmacy_id;item;pharmacy_name;kelurahan_code;lat;lng;quantity;unit;as_of"
    row = ('apotek-1;mask;"Apotek 1";33.74.01.1002;-6,98;110,41;100;box;'
           "2021-07-01T09:00:00+07:00")  # fmt: skip
    path = write_id(tmp_path / "p.csv", [header, row])
    assert _values("pharmacy", path) == _values("pharmacy", write_csv(tmp_path / "p2.csv", [STOCK]))
    aid = write_id(tmp_path / "aid.csv", [
        "date;direction;source;area_code;item;unit;quantity",
        "01/07/2021;received;central_government;33.74;masker_kain;pcs;50.000",
        "02/07/2021;distributed;central_government;33.74.01.1001;masker_kain;pcs;2.000,5",
        "03/07/2021;distributed;private;33.74.01.1001;hand_sanitizer;litre;0,25",
    ])  # fmt: skip
    got = [(v["area_code"], v["quantity"]) for v in _values("aid", aid)]
    assert got == [("33.74", 50000.0), ("33.74.01.1001", 2000.5), ("33.74.01.1001", 0.25)]


def test_quoted_cells_with_semicolons_and_line_breaks_keep_true_lines(tmp_path: Path) -> None:
    head, first, _ = ID_FILES["beds"]
    multi = ('rs-2;01/07/2021;icu;"RS Dr. Kariadi; Gedung 1.234,5\r\nLantai 2";33.74.01.1002;'
             "1.200;1.100;0;0;0;0;100")  # fmt: skip
    bad = "rs-2;02/07/2021;icu;RS 2;33.74.01.1002;10;9;0;0;0;0;2"
    path = write_id(tmp_path / "beds.csv", [head, first, multi])
    rows = _values("beds", path)
    assert rows[1]["hospital_name"] == "RS Dr. Kariadi; Gedung 1.234,5\r\nLantai 2"
    assert (rows[1]["beds"], rows[1]["used"], rows[1]["free"]) == (1200, 1100, 100)
    path = write_id(tmp_path / "bad.csv", [head, first, multi, bad])
    with pytest.raises(ImportRowsError) as err:
        load_file(MODULES["beds"], path, AREAS)
    assert err.value.errors == [f"{path}:5: free: used + prepare + free (9 + 0 + 2) exceeds "
                                "beds (10)"]  # fmt: skip


def test_spreadsheet_leftovers_sep_hint_blank_rows_and_unnamed_columns(tmp_path: Path) -> None:
    lines = ["sep=;", "date;entry_point;people;;", "01/07/2021;terminal-terboyo;1.830;;",
             ";;;;", "01/07/2021;stasiun-tawang;2.410;;", ";;;;"]  # fmt: skip
    path = write_id(tmp_path / "entries.csv", lines, bom=False)
    assert _values("entries", path) == _values("entries", EXAMPLES / "entries.csv")
    lines[4] = "01/07/2021;stasiun-tawang;2.41;;"
    path = write_id(tmp_path / "entries.csv", lines, bom=False)
    with pytest.raises(ImportRowsError) as err:
        load_file(MODULES["entries"], path, AREAS)
    assert err.value.errors == [
        f"{path}:5: people: Input should be a valid integer: value '2.41': expected "
        f"{csv_locale.INT_FORMAT}"
    ]


def test_comma_and_tab_files_keep_dot_decimals_and_take_day_first_dates(tmp_path: Path) -> None:
    comma = tmp_path / "c.csv"
    comma.write_text("date,entry_point,people\n01/07/2021,terminal-terboyo,1830\n"
                     '2021-07-01,"stasiun-tawang",2410\n', encoding="utf-8")  # fmt: skip
    assert _values("entries", comma) == _values("entries", EXAMPLES / "entries.csv")
    tab = write_id(tmp_path / "t.csv", [
        "pharmacy_id\titem\tpharmacy_name\tkelurahan_code\tlat\tlng\tquantity\tunit\tas_of",
        "apotek-1\tmask\tApotek 1\t33.74.01.1002\t-6.98\t110.41\t100\tbox\t"
        "2021-07-01T09:00:00+07:00",
    ], bom=False, eol="\n")  # fmt: skip
    assert _values("pharmacy", tab) == _values("pharmacy", write_csv(tmp_path / "p.csv", [STOCK]))


def test_windows_1252_file_is_read(tmp_path: Path) -> None:
    head, first, _ = ID_FILES["beds"]
    row = first.replace("RSUD K.R.M.T. Wongsonegoro", "RS Panti Rapih Café")
    path = write_id(tmp_path / "beds.csv", [head, row], bom=False, encoding="cp1252")
    assert path.read_bytes().count(b"\xe9") == 1
    (values,) = _values("beds", path)
    assert values["hospital_name"] == "RS Panti Rapih Café" and values["beds"] == 120


# (file bytes, line named, words in the message): refused as a whole, before any row is read.
BAD_FILES: list[tuple[bytes, str, str]] = [
    ("\ufeffdate;entry_point,people\r\n".encode(), ":1: ", "both ',' and ';' outside quotes"),
    (b"\xef\xbb\xbfdate;entry_point;people\r\n01/07/2021;pos-\xe9;1\r\n", ":2: cannot read: ",
     "not UTF-8 text: byte 0xe9: save the file as CSV UTF-8"),
    ("date;entry_point;people\r\n01/07/2021;pos-é;1\r\n".encode() + b"02/07/2021;\xe9;1\r\n",
     ":3: cannot read: ", "not UTF-8 text: byte 0xe9: save the file as CSV UTF-8"),
    (b"date;entry_point;people\r\n01/07/2021;pos-\x81;1\r\n", ":2: cannot read: ",
     "neither UTF-8 nor Windows-1252 text: byte 0x81: save the file as CSV UTF-8"),
    ("date;entry_point;people\r\n".encode("utf-16"), ": cannot read: ",
     "UTF-16 text, not CSV: save the file as CSV UTF-8"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "where", "message"), BAD_FILES)
def test_unreadable_files_are_refused(tmp_path: Path, data: bytes, where: str,
                                      message: str) -> None:  # fmt: skip
    path = tmp_path / "entries.csv"
    path.write_bytes(data)
    with pytest.raises(FileError) as err:
        read_rows(path, MODULES["entries"].model)
    assert str(err.value) == f"{path}{where}{message}" or (
        str(err.value).startswith(f"{path}{where}") and message in str(err.value)
    ), str(err.value)


DATE = csv_locale.DATE_FORMAT
INT = csv_locale.INT_FORMAT
FLOAT = csv_locale.FLOAT_FORMAT

# (module, column, bad value, words in the reason): the value goes into the second data row
# (line 3) of the module's id-ID file, the first stays valid.
BAD_CELLS: list[tuple[str, str, str, str]] = [
    ("cases", "date", "31/02/2021", f"value '31/02/2021' is no such day: expected {DATE}"),
    ("cases", "date", "2021/13/01", f"value '2021/13/01': expected {DATE}"),
    ("cases", "date", "2021-02-30", f"value '2021-02-30' is no such day: expected {DATE}"),
    ("cases", "date", "07/13/2021", f"is no such day (day first, never MM/DD): expected {DATE}"),
    ("cases", "date", "1/7/21", f"value '1/7/21': expected {DATE}"),
    ("cases", "date", "1 Juli 2021", f"value '1 Juli 2021': expected {DATE}"),
    ("cases", "confirmed", "8,5", f"valid integer: value '8,5': expected {INT}"),
    ("cases", "confirmed", "1.20", f"valid integer: value '1.20': expected {INT}"),
    ("cases", "confirmed", "1,234", f"valid integer: value '1,234': expected {INT}"),
    ("cases", "active", "many", f"valid integer: value 'many': expected {INT}"),
    ("beds", "jumlah", "1e3", f"valid integer: value '1e3': expected {INT}"),
    ("beds", "terpakai", "12.5", f"valid integer: value '12.5': expected {INT}"),
    ("beds", "kosong", "0.020", f"valid integer: value '0.020': expected {INT}"),
    ("staples", "price_idr", "Rp14.000", f"valid integer: value 'Rp14.000': expected {INT}"),
    ("staples", "price_idr", "14 000", f"valid integer: value '14 000': expected {INT}"),
    ("staples", "price_idr", "14.000,50", f"valid integer: value '14.000,50': expected {INT}"),
    ("staples", "price_idr", "14.00", f"valid integer: value '14.00': expected {INT}"),
    ("staples", "stock", "3500.5", f"valid number: value '3500.5': expected {FLOAT}"),
    ("staples", "stock", "3.50,5", f"valid number: value '3.50,5': expected {FLOAT}"),
    ("staples", "stock", "3.500.5", f"valid number: value '3.500.5': expected {FLOAT}"),
    ("staples", "stock", ",5", f"valid number: value ',5': expected {FLOAT}"),
    ("staples", "stock", "1.2345", f"valid number: value '1.2345': expected {FLOAT}"),
    ("population", "population", "7.408.0", f"valid integer: value '7.408.0': expected {INT}"),
    ("entries", "date", "32/07/2021", f"value '32/07/2021' is no such day: expected {DATE}"),
]


def _with_cell(lines: list[str], row: int, column: str, value: str) -> list[str]:
    header = lines[0].split(";")
    cells = lines[row].split(";")
    cells[header.index(column)] = value
    return [*lines[:row], ";".join(cells), *lines[row + 1 :]]


@pytest.mark.parametrize(("module", "column", "value", "reason"), BAD_CELLS)
def test_malformed_cell_is_named_and_nothing_is_written(
    engine: Engine, tmp_path: Path, module: str, column: str, value: str, reason: str
) -> None:
    mod = MODULES[module]
    import_file(engine, mod, EXAMPLES / f"{module}.csv", AREAS, who="t")
    before = (_count(engine, mod.table), _count(engine, schema.civic_audit))
    # The first row is a new record (a new key), so a partial write would show in the table.
    first = ("year", "2022") if module == "population" else ("date", "05/07/2021")
    lines = _with_cell(ID_FILES[module], 1, *first)
    path = write_id(tmp_path / f"{module}.csv", _with_cell(lines, 2, column, value))
    with pytest.raises(ImportRowsError) as err:
        import_file(engine, mod, path, AREAS, who="t")
    assert err.value.total == 1, err.value.errors
    (line,) = err.value.errors
    assert line.startswith(f"{path}:3: {column}: Input should be a valid "), line
    assert f"value {value!r}" in line and reason in line and "\n" not in line, line
    assert (_count(engine, mod.table), _count(engine, schema.civic_audit)) == before


def test_every_bad_cell_of_a_row_is_listed_once(tmp_path: Path) -> None:
    lines = _with_cell(ID_FILES["staples"], 2, "price_idr", "14.00")
    lines = _with_cell(lines, 2, "stock", "3500.5")
    lines = _with_cell(lines, 2, "kind", "warung")
    path = write_id(tmp_path / "staples.csv", lines)
    with pytest.raises(ImportRowsError) as err:
        load_file(MODULES["staples"], path, AREAS)
    assert err.value.errors == [
        f"{path}:3: price_idr: Input should be a valid integer: value '14.00': expected {INT}",
        f"{path}:3: stock: Input should be a valid number: value '3500.5': expected {FLOAT}",
        f"{path}:3: kind: Input should be 'market' or 'distributor'",
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a,b,c\r\n1;2,3", ","),
        ("a;b;c\r\n1,5;2;3", ";"),
        ('"a;x";b\r\n', ";"),
        ('"a,b";"c"\n', ";"),
        ("a\tb\n1,5\t2", "\t"),
        ("\r\n\r\na;b\r\n", ";"),
        ("single\n1,5", ","),
    ],
)
def test_header_delimiter(header: str, expected: str) -> None:
    assert csv_locale.header_delimiter(header) == expected


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("1234", "int", "1234"), ("1.234", "int", "1234"), ("1.234.567", "int", "1234567"),
        ("10.500,00", "int", "10500"), ("-5", "int", "-5"), (" 12 ", "int", "12"),
        ("12,5", "float", "12.5"), ("1.234,5", "float", "1234.5"), ("0,25", "float", "0.25"),
        ("-6,98", "float", "-6.98"), ("1.234", "float", "1234"), ("007", "int", "007"),
    ],
)  # fmt: skip
def test_id_number(text: str, kind: Any, expected: str) -> None:
    assert csv_locale.id_number(text, kind) == expected
