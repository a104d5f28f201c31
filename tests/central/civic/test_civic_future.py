"""A pharmacy `as_of` in the future is refused (file import and HTTP), with nothing written.

The newest as_of wins, so a row dated 2099 would make every real report until then "stale".
Up to pharmacy.FUTURE_SKEW_S ahead of central's clock is accepted (a clock running fast).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from central.api.app import ApiContext, create_app
from central.areas import CameraRegistry, sync_areas
from central.civic.institutions import add_institution
from central.civic.pharmacy import FUTURE_SKEW_S
from central.store import schema
from central.store.engine import make_engine
from central.store.migrations import migrate
from central.summaries import SummaryBoard
from siaga.cli import main
from tests.central.api_fixtures import bearer, serving
from tests.central.civic_fixtures import STOCK, write_csv, write_wilayah
from tests.central.summary_fixtures import small_areas


def _at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).astimezone().isoformat()


FUTURE = [
    pytest.param(timedelta(seconds=FUTURE_SKEW_S + 120), id="beyond-the-skew"),
    pytest.param(timedelta(days=1), id="tomorrow"),
    pytest.param(datetime(2099, 6, 1, tzinfo=UTC) - datetime.now(UTC), id="2099"),
]


def _stored(engine: Engine) -> list[tuple[int, datetime]]:
    t = schema.civic_pharmacy_stock.c
    with engine.connect() as conn:
        return [(r.quantity, r.as_of) for r in conn.execute(select(t.quantity, t.as_of))]


def _audits(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.civic_audit)).scalar_one())


@pytest.fixture
def api(engine: Engine) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    sync_areas(engine, small_areas())  # STOCK's kelurahan is in it
    token = add_institution(engine, "apotek-1", "Apotek 1", modules=["pharmacy"],
                            owner_ids=["apotek-1"])  # fmt: skip
    ctx = ApiContext(engine=engine, board=SummaryBoard(), cameras=CameraRegistry())
    with serving(create_app(ctx)) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c, bearer(token)


@pytest.mark.parametrize("ahead", FUTURE)
def test_http_refuses_a_future_as_of(engine: Engine, api: tuple[httpx.Client, dict[str, str]],
                                     ahead: timedelta) -> None:  # fmt: skip
    client, auth = api
    now = {**STOCK, "as_of": _at(timedelta(0))}
    assert client.post("/civic/pharmacy", json=[now], headers=auth).json()["inserted"] == 1
    before = (_stored(engine), _audits(engine))
    r = client.post("/civic/pharmacy", json=[{**STOCK, "quantity": 1, "as_of": _at(ahead)}],
                    headers=auth)  # fmt: skip
    assert r.status_code == 422, r.text
    (line,) = r.json()["detail"]["detail"]
    assert line.startswith("rows[0]: as_of: Value error, ")
    assert ("is in the future" in line) if ahead < timedelta(days=365) else ("2099" in line)
    assert (_stored(engine), _audits(engine)) == before  # nothing written, nothing audited
    # The record is not locked: the next real report is applied.
    later = {**STOCK, "quantity": 7, "as_of": _at(timedelta(seconds=1))}
    assert client.post("/civic/pharmacy", json=[later], headers=auth).json()["updated"] == 1


def test_http_accepts_a_clock_slightly_ahead(api: tuple[httpx.Client, dict[str, str]]) -> None:
    client, auth = api
    row = {**STOCK, "as_of": _at(timedelta(seconds=FUTURE_SKEW_S - 60))}
    r = client.post("/civic/pharmacy", json=[row], headers=auth)
    assert r.status_code == 200 and r.json()["inserted"] == 1


@pytest.fixture
def config(tmp_path: Path) -> Path:
    wilayah = write_wilayah(tmp_path / "wilayah.csv")
    path = tmp_path / "central.toml"
    path.write_text(f'[areas]\nwilayah_csv = "{wilayah}"\nkelurahan_geojson = ""\n')
    return path


@pytest.mark.parametrize("suffix", ["csv", "json"])
@pytest.mark.parametrize("ahead", FUTURE)
def test_file_import_refuses_a_future_as_of(
    db_url: str, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    ahead: timedelta, suffix: str,
) -> None:  # fmt: skip
    rows = [STOCK, {**STOCK, "item": "hand_sanitizer", "as_of": _at(ahead)}]
    path = tmp_path / f"stock.{suffix}"
    if suffix == "csv":
        write_csv(path, rows)
    else:
        path.write_text(json.dumps(rows, indent=1))
    argv = ["central", "import", "pharmacy", str(path), "--config", str(config), "--db", db_url]
    assert main(argv) == 2
    err = capsys.readouterr().err
    line = 3 if suffix == "csv" else 13  # the second row's first line (after 9 keys)
    assert f"{path}:{line}: as_of: Value error, " in err, err
    assert "is in the future" in err or "between the years 2000 and 2099" in err
    engine = make_engine(db_url)
    migrate(engine)
    try:
        assert _stored(engine) == [] and _audits(engine) == 0
    finally:
        engine.dispose()
