"""Open data: hand-computed per-kelurahan figures, no personal data, files, catch-up, CLI."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert

from central.config import CentralConfig, OpendataSection, ReportSection
from central.opendata import KELURAHAN_FIELDS, build_opendata, data_dictionary, write_opendata
from central.opendata.build import AID_FIELDS
from central.opendata.run import run_due
from central.report.run import ReportScheduler
from central.store import schema
from central.store.writes import Store
from siaga.cli import main
from siaga.wire import CameraCalibration, CameraHealth, DetectorConfusion, ModelInfo, StatusMessage
from tests.central.civic_fixtures import civic_row, utc
from tests.central.report.test_report_uncertainty import CONFUSION

WIB = ZoneInfo("Asia/Jakarta")
DAY = date(2021, 7, 10)  # cut-off 2021-07-10 12:00 WIB = 05:00 UTC
CITY, KA, KB = "33.74", "33.74.01", "33.74.02"
K1, K2, K3 = "33.74.01.1001", "33.74.01.1002", "33.74.02.1001"
SECRET_NAMES = ("RS Rahasia", "rs-secret", "Apotek Rahasia", "apt-secret", "agent-secret",
                "cam-secret", "site-secret")  # fmt: skip


_seq = iter(range(1, 10_000))


def _count(kel: str, end: str, seen: int, masked: int, unmasked: int) -> dict[str, Any]:
    e = utc(end)
    return {
        "agent_id": "agent-secret", "seq": next(_seq), "camera_id": "cam-secret",
        "site": "site-secret", "kelurahan_code": kel, "window_start": e.replace(minute=0),
        "window_end": e, "people_seen": seen, "masked": masked, "unmasked": unmasked,
        "occupancy_mean": 1.0, "occupancy_max": 1, "frames_processed": 1, "frames_inferred": 1,
        "model_name": "m", "model_version": "1", "model_sha256": "0" * 64,
        "kelurahan_mismatch": False, "received_at": e,
    }  # fmt: skip


def _case(kel: str, d: str, c: int, a: int, r: int, x: int, res: str = "resident",
          upd: str = "2021-07-10T02:00") -> dict[str, Any]:  # fmt: skip
    return civic_row(upd, kelurahan_code=kel, date=date.fromisoformat(d), residency=res,
                  confirmed=c, active=a, recovered=r, deaths=x, suspect=0, probable=0)  # fmt: skip


def _bed(room: str, d: str, beds: int, used: int, free: int) -> dict[str, Any]:
    return civic_row("2021-07-10T01:00", hospital_id="rs-secret", date=date.fromisoformat(d),
                  room_type=room, hospital_name="RS Rahasia", kelurahan_code=K1, beds=beds,
                  used=used, used_suspect=0, used_confirmed=used, queue=0, prepare=0,
                  free=free)  # fmt: skip


def _stock(pid: str, kel: str, item: str, qty: int, upd: str) -> dict[str, Any]:
    return civic_row(upd, pharmacy_id=pid, item=item, pharmacy_name="Apotek Rahasia",
                  kelurahan_code=kel, lat=-7.0, lng=110.4, quantity=qty, unit="pcs",
                  as_of=utc(upd))  # fmt: skip


def _aid(direction: str, area: str, source: str, item: str, unit: str, qty: float,
         d: str) -> dict[str, Any]:  # fmt: skip
    return civic_row("2021-07-09T10:00", date=date.fromisoformat(d), direction=direction,
                  source=source, area_code=area, item=item, unit=unit, quantity=qty)  # fmt: skip


def seed(engine: Engine) -> None:
    rows: dict[Any, list[dict[str, Any]]] = {
        schema.kecamatan: [{"code": KA, "name": "Kec A", "kota_code": CITY},
                           {"code": KB, "name": "Kec B", "kota_code": CITY}],
        schema.kelurahan: [{"code": K1, "name": "Kel 1", "kecamatan_code": KA},
                           {"code": K2, "name": "Kel 2", "kecamatan_code": KA},
                           {"code": K3, "name": "Kel 3", "kecamatan_code": KB}],
        schema.counts: [
            _count(K1, "2021-07-10T04:00", 30, 24, 6),
            _count(K1, "2021-07-09T06:00", 20, 10, 10),
            _count(K1, "2021-07-09T04:00", 500, 0, 500),  # at cut-off − 24 h: out
            _count(K2, "2021-07-10T03:00", 10, 5, 5),  # below 20 people: no ratio
            _count(K3, "2021-07-10T05:01", 90, 0, 90),  # after the cut-off
        ],
        schema.civic_cases: [
            _case(K1, "2021-07-03", 100, 30, 65, 5),
            _case(K1, "2021-07-10", 130, 20, 100, 10),
            _case(K1, "2021-07-11", 999, 9, 9, 9),  # after the day
            _case(K1, "2021-07-10", 40, 4, 30, 6, res="non_resident"),  # not a resident
            _case(K2, "2021-07-08", 50, 5, 44, 1),  # no row 7 days before: no new_7d
        ],
        schema.civic_population: [
            civic_row("2021-01-01T00:00", kelurahan_code=K1, year=2020, population=40_000),
            civic_row("2021-01-01T00:00", kelurahan_code=K1, year=2021, population=50_000),
            civic_row("2021-01-01T00:00", kelurahan_code=K1, year=2022, population=60_000),
            civic_row("2021-01-01T00:00", kelurahan_code=K2, year=2022, population=25_000),
        ],
        schema.civic_beds: [
            _bed("isolasi", "2021-07-09", 10, 6, 4),
            _bed("isolasi", "2021-07-08", 99, 99, 0),  # older
            _bed("icu", "2021-07-10", 5, 5, 0),
            _bed("icu", "2021-07-11", 50, 0, 50),  # after the day
        ],
        schema.civic_pharmacy_stock: [
            _stock("apt-secret", K2, "mask", 100, "2021-07-10T01:00"),
            _stock("apt-secret", K2, "hand_sanitizer", 20, "2021-07-10T01:00"),
            _stock("apt-2", K2, "mask", 30, "2021-07-09T01:00"),
            _stock("apt-3", K3, "mask", 7, "2021-07-10T06:00"),  # after the cut-off
        ],
        schema.civic_aid: [
            _aid("distributed", K1, "private", "mask", "pcs", 500, "2021-07-09"),
            _aid("distributed", K1, "central_government", "rice", "kg", 200.5, "2021-07-09"),
            _aid("received", CITY, "private", "mask", "pcs", 9000, "2021-07-09"),
            _aid("distributed", K2, "private", "mask", "pcs", 77, "2021-07-08"),  # not D − 1
        ],
    }  # fmt: skip
    with engine.begin() as conn:
        for table, rs in rows.items():
            conn.execute(insert(table), rs)


@pytest.fixture
def engine(engine: Engine) -> Engine:
    """The migrated database (tests/central/conftest.py) with this module's dataset."""
    seed(engine)
    return engine


def test_hand_computed_rows(engine: Engine) -> None:
    d = build_opendata(engine, DAY, WIB, min_people_for_ratio=20)
    assert [r["kelurahan_code"] for r in d.kelurahan] == [K1, K2, K3]
    assert all(list(r) == [f.name for f in KELURAHAN_FIELDS] for r in d.kelurahan)
    k1, k2, k3 = d.kelurahan
    assert k1 == {
        "date": "2021-07-10", "kelurahan_code": K1, "kelurahan_name": "Kel 1",
        "kecamatan_code": KA, "kecamatan_name": "Kec A",
        "people_seen": 50, "masked": 34, "unmasked": 16, "judged": 50, "not_judged": 0,
        "mask_compliance": 0.68,
        # Wilson 95 % of 34 of 50, worked in decimal; no calibrated camera: nothing corrected.
        "compliance_low": 0.5419, "compliance_high": 0.7924, "compliance_corrected": None,
        "compliance_corrected_low": None, "compliance_corrected_high": None,
        "corrected_share": None,
        "cases_confirmed": 130, "cases_active": 20, "cases_recovered": 100, "cases_deaths": 10,
        "cases_new_7d": 30, "population": 50_000,  # the 2021 figure
        "cases_active_per_100k": 40.0, "cases_new_7d_per_100k": 60.0,
        "beds_total": 15, "beds_used": 11, "beds_free": 4, "beds_occupancy_pct": 73.3,
        "pharmacy_mask_stock": None, "pharmacy_hand_sanitizer_stock": None,
        "pharmacies_reporting": 0,
        "counts_as_of": "2021-07-10T04:00:00Z", "cases_as_of": "2021-07-10T02:00:00Z",
        "beds_as_of": "2021-07-10T01:00:00Z", "stock_as_of": None,
    }  # fmt: skip
    assert (k2["people_seen"], k2["mask_compliance"]) == (10, None)
    assert (k2["compliance_low"], k2["compliance_high"]) == (0.2366, 0.7634)  # why no ratio
    assert (k2["cases_confirmed"], k2["cases_new_7d"], k2["population"]) == (50, None, 25_000)
    assert (k2["cases_active_per_100k"], k2["cases_new_7d_per_100k"]) == (20.0, None)
    assert (k2["pharmacy_mask_stock"], k2["pharmacy_hand_sanitizer_stock"]) == (130, 20)
    assert (k2["pharmacies_reporting"], k2["stock_as_of"]) == (2, "2021-07-10T01:00:00Z")
    assert k2["beds_total"] is None and k2["beds_occupancy_pct"] is None
    assert (k3["people_seen"], k3["mask_compliance"], k3["counts_as_of"]) == (0, None, None)
    assert k3["compliance_low"] is None and k3["corrected_share"] is None  # nobody judged
    assert (k3["pharmacy_mask_stock"], k3["pharmacies_reporting"]) == (None, 0)
    assert k3["cases_confirmed"] is None and k3["population"] is None
    assert d.aid == [
        {"date": "2021-07-09", "kelurahan_code": K1, "kelurahan_name": "Kel 1",
         "source": "central_government", "item": "rice", "unit": "kg", "quantity": 200.5},
        {"date": "2021-07-09", "kelurahan_code": K1, "kelurahan_name": "Kel 1",
         "source": "private", "item": "mask", "unit": "pcs", "quantity": 500},
    ]  # fmt: skip


def test_files_have_no_personal_data_and_stable_columns(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "od"
    paths = write_opendata(build_opendata(engine, DAY, WIB), out)
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "aid-daily-2021-07-10.csv",
        "aid-daily-2021-07-10.json",
        "aid-daily.csv",
        "aid-daily.json",
        "datadictionary.csv",
        "datadictionary.json",
        "kelurahan-daily-2021-07-10.csv",
        "kelurahan-daily-2021-07-10.json",
        "kelurahan-daily.csv",
        "kelurahan-daily.json",
    ]  # fmt: skip  (no temporary files left behind)
    for p in out.iterdir():
        text = p.read_text(encoding="utf-8")
        assert not [s for s in SECRET_NAMES if s in text], p.name
    with paths["kelurahan-daily.csv"].open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [f.name for f in KELURAHAN_FIELDS]
    k1 = dict(zip(rows[0], rows[1], strict=True))
    assert (k1["mask_compliance"], k1["beds_occupancy_pct"], k1["pharmacy_mask_stock"]) == (
        "0.68",
        "73.3",
        "",
    )
    doc = json.loads(paths["kelurahan-daily.json"].read_text(encoding="utf-8"))
    assert doc["schema"] == "siaga.opendata/1" and doc["date"] == "2021-07-10"
    assert doc["fields"] == [f.name for f in KELURAHAN_FIELDS] and len(doc["records"]) == 3
    with paths["aid-daily.csv"].open(encoding="utf-8") as f:
        assert next(csv.reader(f)) == [f.name for f in AID_FIELDS]


def test_data_dictionary_describes_every_field(tmp_path: Path) -> None:
    dd = data_dictionary()
    table = dd["tables"]["kelurahan-daily"]
    assert table["primary_key"] == ["kelurahan_code", "date"]
    assert [f["name"] for f in table["fields"]] == [f.name for f in KELURAHAN_FIELDS]
    types = {"date", "string", "integer", "number", "datetime"}
    assert all(f["description"] and f["type"] in types for f in table["fields"])
    units = {f["name"]: f["unit"] for f in table["fields"]}
    assert units["cases_new_7d_per_100k"] == "per 100,000 residents"
    assert units["mask_compliance"] == "ratio 0-1" and units["beds_occupancy_pct"] == "%"


def test_cumulative_files_replace_a_rebuilt_day(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "od"
    write_opendata(build_opendata(engine, date(2021, 7, 9), WIB), out)
    write_opendata(build_opendata(engine, DAY, WIB), out)
    write_opendata(build_opendata(engine, DAY, WIB), out)  # rebuilt: no duplicate rows
    with (out / "kelurahan-daily.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["date"], r["kelurahan_code"]) for r in rows] == [
        ("2021-07-09", K1), ("2021-07-09", K2), ("2021-07-09", K3),
        ("2021-07-10", K1), ("2021-07-10", K2), ("2021-07-10", K3),
    ]  # fmt: skip
    doc = json.loads((out / "aid-daily.json").read_text(encoding="utf-8"))
    assert [r["date"] for r in doc["records"]] == ["2021-07-08", "2021-07-09", "2021-07-09"]


def _cfg(tmp_path: Path) -> CentralConfig:
    return CentralConfig(report=ReportSection(output_dir=tmp_path / "reports"),
                         opendata=OpendataSection(output_dir=tmp_path / "od"))  # fmt: skip


def test_catch_up_writes_each_missed_day_once(engine: Engine, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    write_opendata(build_opendata(engine, date(2021, 7, 7), WIB), cfg.opendata.output_dir)
    before = datetime(2021, 7, 10, 4, 59, tzinfo=UTC)  # 11:59 WIB: today not due yet
    assert run_due(engine, cfg, before) == [date(2021, 7, 8), date(2021, 7, 9)]
    assert run_due(engine, cfg, before) == []
    s = ReportScheduler(engine, cfg)
    assert s.run_once(datetime(2021, 7, 10, 6, tzinfo=UTC)) is True  # 13:00 WIB
    assert s.opendata_written == [DAY]
    assert s.written == [DAY]  # the report is written in the same pass
    assert s.run_once(datetime(2021, 7, 10, 7, tzinfo=UTC)) is True
    assert s.opendata_written == [DAY]


def test_own_time_of_day(engine: Engine, tmp_path: Path) -> None:
    cfg = CentralConfig(opendata=OpendataSection(output_dir=tmp_path / "od", hour=15))
    assert run_due(engine, cfg, datetime(2021, 7, 10, 7, tzinfo=UTC)) == [date(2021, 7, 9)]
    assert run_due(engine, cfg, datetime(2021, 7, 10, 8, tzinfo=UTC)) == [DAY]  # 15:00 WIB
    doc = json.loads((tmp_path / "od" / "kelurahan-daily-2021-07-10.json").read_text())
    assert doc["cutoff"] == "2021-07-10T15:00:00+07:00"


def test_cli_opendata(engine: Engine, db_url: str, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    conf = tmp_path / "none.toml"
    conf.write_text("")
    out = tmp_path / "od"
    base = ["central", "opendata", "--db", db_url, "--config", str(conf)]
    assert main([*base, "--date", "2021-07-10", "--out", str(out)]) == 0
    assert "kelurahan-daily-2021-07-10.csv" in capsys.readouterr().out
    assert len(json.loads((out / "kelurahan-daily-2021-07-10.json").read_text())["records"]) == 3
    assert main([*base, "--date", "10/07/2021", "--out", str(out)]) == 2
    assert "expected YYYY-MM-DD" in capsys.readouterr().err
    assert main([*base, "--date", "2021-07-10", "--out", str(conf)]) == 1  # a file, not a folder
    bad = tmp_path / "bad.toml"
    bad.write_text("[opendata]\nhour = 24\n")
    assert main(["central", "opendata", "--db", db_url, "--config", str(bad),
                 "--date", "2021-07-10"]) == 2  # fmt: skip


def test_calibrated_camera_gives_corrected_columns(engine: Engine) -> None:
    cam = CameraHealth(
        fps=1.0,
        inference_ms=1.0,
        reconnects=0,
        stalls=0,
        connected=True,
        calibration=CameraCalibration(
            version="v1", confusion=DetectorConfusion.model_validate(CONFUSION)
        ),
    )
    now = datetime(2021, 7, 10, 4, tzinfo=UTC)
    msg = StatusMessage(agent_id="agent-secret", time=now, version="0.1", uptime_s=1.0,
                        model=ModelInfo(name="m", version="1", sha256="0" * 64),
                        cameras={"cam-secret": cam}, outbox_depth=0, dropped=0)  # fmt: skip
    Store(engine).set_status("agent-secret", msg.to_payload().decode(), now)
    k1 = build_opendata(engine, DAY, WIB, min_people_for_ratio=20).kelurahan[0]
    # By hand: 34 of 50 called masked, φ = 0.68 → π = (0.2 − 0.544) / (0.068 − 0.6) = 0.6466.
    assert k1["compliance_corrected"] == pytest.approx(0.6466, abs=0.0002)
    assert k1["corrected_share"] == 1.0
    assert k1["compliance_corrected_low"] < 0.6466 < k1["compliance_corrected_high"]  # type: ignore[operator]
    assert "agent-secret" not in json.dumps(k1) and "cam-secret" not in json.dumps(k1)
