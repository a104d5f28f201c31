"""`siaga central import MODULE FILE`: exit 2 with every bad line and nothing written, else 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Table, func, select

from central.store import schema
from central.store.engine import make_engine
from siaga.cli import main
from tests.central.civic_fixtures import BED, CASE, write_csv, write_wilayah


@pytest.fixture
def config(tmp_path: Path) -> Path:
    wilayah = write_wilayah(tmp_path / "wilayah.csv")
    path = tmp_path / "central.toml"
    path.write_text(f'[areas]\nwilayah_csv = "{wilayah}"\nkelurahan_geojson = ""\n')
    return path


def _rows(db_url: str, table: Table) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def test_import_then_reimport_and_audit_names_the_user(
    db_url: str, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("LOGNAME", "ana")
    path = write_csv(tmp_path / "beds.csv", [BED, {**BED, "room_type": "icu"}])
    argv = ["central", "import", "beds", str(path), "--config", str(config), "--db", db_url]
    assert main(argv) == 0
    assert "beds (schema 1): 2 rows: 2 new, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert main(argv) == 0
    assert "0 new, 0 updated, 2 unchanged" in capsys.readouterr().out
    engine = make_engine(db_url)
    with engine.connect() as conn:
        who = conn.execute(select(schema.civic_audit.c.who).distinct()).scalars().all()
    engine.dispose()
    assert who == ["cli:ana"]


def test_bad_rows_exit_2_list_every_line_and_write_nothing(
    db_url: str, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [CASE, {**CASE, "kelurahan_code": "33.74.16.1010"}, {**CASE, "date": "1 Juli"},
            {**CASE, "residency": "resident", "kelurahan_code": "33.74.01.1002"}]  # fmt: skip
    path = write_csv(tmp_path / "cases.csv", rows)
    argv = ["central", "import", "cases", str(path), "--config", str(config), "--db", db_url]
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert (
        err[0]
        == f"{path}:3: kelurahan_code: unknown kelurahan 33.74.16.1010 (not in the area registry)"
    )
    assert err[1].startswith(f"{path}:4: date: Input should be a valid date")
    assert err[2] == f"siaga central: 2 problem(s) in {path}; nothing imported"
    assert _rows(db_url, schema.civic_cases) == 0
    assert _rows(db_url, schema.civic_audit) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cases", "missing.csv"], "missing.csv: file not found"),
        (["cases", "x.xlsx"], "unknown file type '.xlsx'"),
    ],
)
def test_file_problems_exit_2(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], args: list[str],
    message: str,
) -> None:  # fmt: skip
    db = str(tmp_path / "c.sqlite3")
    argv = ["central", "import", args[0], str(tmp_path / args[1]), "--config", str(config),
            "--db", db]  # fmt: skip
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_module_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["central", "import", "weather", "x.csv"])
    assert exc.value.code == 2
    assert "invalid choice: 'weather'" in capsys.readouterr().err


def test_institution_token_add_authenticate_revoke(tmp_path, capsys) -> None:
    from central.civic.institutions import authenticate
    from central.store.engine import make_engine
    from siaga.cli import main

    db = str(tmp_path / "c.sqlite3")
    args = ["central", "institution", "add", "rs-kariadi", "--name", "RSUP Kariadi",
            "--module", "beds", "--owns", "rs-kariadi", "--db", db]  # fmt: skip
    assert main(args) == 0
    token = capsys.readouterr().out.strip()
    engine = make_engine(f"sqlite:///{db}")
    who = authenticate(engine, token)
    assert who is not None and who.may_write("beds") and not who.may_write("pharmacy")
    assert main(args) == 2  # the same id twice
    assert "already exists" in capsys.readouterr().err
    assert main(["central", "institution", "revoke", "rs-kariadi", "--db", db]) == 0
    assert authenticate(engine, token) is None
    assert main(["central", "institution", "revoke", "nobody", "--db", db]) == 2
