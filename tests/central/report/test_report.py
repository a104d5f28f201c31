"""The daily report: hand-computed figures, sources, as-of and late flags; files; catch-up; CLI."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert

from central.report import build_report, due_reports, write_report
from central.store import schema
from siaga.cli import main
from tests.central.civic_fixtures import civic_row, utc

WIB = ZoneInfo("Asia/Jakarta")
DAY = date(2021, 7, 10)  # cut-off 2021-07-10 12:00 WIB = 05:00 UTC; late before 07-08 17:00 UTC
CITY, KA, KB = "33.74", "33.74.01", "33.74.02"
K1, K2 = "33.74.01.1001", "33.74.02.1001"


_seq = iter(range(1, 1000))


def _count(kel: str, end: str, seen: int, masked: int, unmasked: int) -> dict[str, Any]:
    e = utc(end)
    return {
        "agent_id": "a1", "seq": next(_seq), "camera_id": "c1", "site": "s", "kelurahan_code": kel,
        "window_start": e.replace(minute=0), "window_end": e, "people_seen": seen,
        "masked": masked, "unmasked": unmasked, "occupancy_mean": 1.0, "occupancy_max": 1,
        "frames_processed": 1, "frames_inferred": 1, "model_name": "m", "model_version": "1",
        "model_sha256": "0" * 64, "kelurahan_mismatch": False, "received_at": e,
    }  # fmt: skip


def _case(kel: str, d: str, upd: str, c: int, a: int, r: int, x: int) -> dict[str, Any]:
    return civic_row(upd, kelurahan_code=kel, date=date.fromisoformat(d), residency="resident",
                  confirmed=c, active=a, recovered=r, deaths=x, suspect=0, probable=0)  # fmt: skip


def _bed(hid: str, kel: str, d: str, upd: str, beds: int, used: int, free: int) -> dict[str, Any]:
    return civic_row(upd, hospital_id=hid, date=date.fromisoformat(d), room_type="isolasi",
                  hospital_name=hid, kelurahan_code=kel, beds=beds, used=used, used_suspect=0,
                  used_confirmed=used, queue=0, prepare=0, free=free)  # fmt: skip


def _stock(pid: str, kel: str, item: str, qty: int, upd: str) -> dict[str, Any]:
    return civic_row(upd, pharmacy_id=pid, item=item, pharmacy_name=pid, kelurahan_code=kel,
                  lat=-7.0, lng=110.4, quantity=qty, unit="pcs", as_of=utc(upd))  # fmt: skip


def _aid(direction: str, area: str, item: str, unit: str, qty: float, d: str) -> dict[str, Any]:
    return civic_row("2021-07-09T10:00", date=date.fromisoformat(d), direction=direction,
                  source="prov", area_code=area, item=item, unit=unit, quantity=qty)  # fmt: skip


def seed(engine: Engine) -> None:
    """Two kecamatan, one kelurahan each; kecamatan B's cases and sanitizer stock are late."""
    rows: dict[Any, list[dict[str, Any]]] = {
        schema.kecamatan: [
            {"code": KA, "name": "Kec A", "kota_code": CITY},
            {"code": KB, "name": "Kec B", "kota_code": CITY},
        ],
        schema.kelurahan: [
            {"code": K1, "name": "Kel 1", "kecamatan_code": KA},
            {"code": K2, "name": "Kel 2", "kecamatan_code": KB},
        ],
        schema.counts: [
            _count(K1, "2021-07-10T04:00", 30, 24, 6),
            _count(K1, "2021-07-09T04:00", 100, 0, 100),  # before cut-off − 24 h
            _count(K2, "2021-07-09T20:00", 10, 5, 5),
            _count(K2, "2021-07-10T06:00", 50, 0, 50),  # after the cut-off
        ],
        schema.civic_cases: [
            _case(K1, "2021-07-08", "2021-07-08T10:00", 10, 2, 7, 1),
            _case(K1, "2021-07-10", "2021-07-10T02:00", 12, 3, 8, 1),
            _case(K1, "2021-07-11", "2021-07-11T02:00", 99, 9, 9, 9),  # after the day
            _case(K2, "2021-07-05", "2021-07-05T01:00", 5, 1, 4, 0),  # late
        ],
        schema.civic_beds: [
            _bed("rs-1", K1, "2021-07-09", "2021-07-09T08:00", 10, 6, 3),
            _bed("rs-1", K1, "2021-07-07", "2021-07-07T08:00", 99, 99, 0),  # older date
            _bed("rs-2", K2, "2021-07-10", "2021-07-10T03:00", 20, 5, 15),
        ],
        schema.civic_pharmacy_stock: [
            _stock("ap-1", K1, "mask", 100, "2021-07-09T03:00"),
            _stock("ap-2", K2, "mask", 50, "2021-07-01T03:00"),
            _stock("ap-2", K2, "hand_sanitizer", 7, "2021-07-01T03:00"),
        ],
        schema.civic_entries: [
            civic_row("2021-07-09T23:00", date=date(2021, 7, 9), entry_point="tol", people=100),
            civic_row("2021-07-09T23:00", date=date(2021, 7, 9), entry_point="bus", people=50),
            civic_row("2021-07-10T03:00", date=date(2021, 7, 10), entry_point="tol", people=999),
        ],
        schema.civic_aid: [
            _aid("received", K1, "beras", "kg", 500, "2021-07-09"),
            _aid("distributed", K2, "beras", "kg", 200, "2021-07-09"),
            _aid("received", CITY, "masker", "pcs", 1000, "2021-07-09"),
            _aid("received", K1, "beras", "kg", 7777, "2021-07-08"),  # not the day before
        ],
    }
    with engine.begin() as conn:
        for table, rs in rows.items():
            conn.execute(insert(table), rs)


@pytest.fixture
def engine(engine: Engine) -> Engine:
    """The migrated database (tests/central/conftest.py) with this module's dataset."""
    seed(engine)
    return engine


def _v(fig: Any) -> tuple[Any, str, datetime | None, bool]:
    return (fig.value, fig.source, fig.as_of, fig.late)


def test_hand_computed_report(engine: Engine) -> None:
    r = build_report(engine, DAY, WIB, late_after_h=36, min_people_for_ratio=20)
    assert r.cutoff == datetime(2021, 7, 10, 12, tzinfo=WIB)
    assert [(f.area_code) for f in r.figures if f.figure == "people_seen"] == [CITY, KA, KB]
    g = r.get
    t = utc
    # compliance: window ends in (07-09 05:00, 07-10 05:00] UTC
    assert _v(g(CITY, "people_seen")) == (40, "counts", t("2021-07-10T04:00"), False)
    assert g(CITY, "masked").value == 29 and g(CITY, "unmasked").value == 11
    assert _v(g(CITY, "mask_compliance")) == (0.725, "counts", t("2021-07-10T04:00"), False)
    assert g(KA, "mask_compliance").value == 0.8
    assert _v(g(KB, "mask_compliance")) == (None, "counts", t("2021-07-09T20:00"), False)
    # cases: newest date ≤ day per kelurahan and residency
    assert _v(g(CITY, "cases_resident_confirmed")) == (17, "cases", t("2021-07-10T02:00"), False)
    assert g(CITY, "cases_resident_active").value == 4
    assert g(CITY, "cases_resident_recovered").value == 12
    assert g(CITY, "cases_resident_deaths").value == 1
    assert _v(g(KA, "cases_resident_confirmed")) == (12, "cases", t("2021-07-10T02:00"), False)
    assert _v(g(KB, "cases_resident_confirmed")) == (5, "cases", t("2021-07-05T01:00"), True)
    assert _v(g(CITY, "cases_non_resident_confirmed")) == (None, "cases", None, True)
    # beds
    assert _v(g(CITY, "beds_total")) == (30, "beds", t("2021-07-10T03:00"), False)
    assert (g(CITY, "beds_used").value, g(CITY, "beds_free").value) == (11, 18)
    assert g(CITY, "beds_occupancy_pct").value == 36.7
    assert (g(KA, "beds_occupancy_pct").value, g(KB, "beds_occupancy_pct").value) == (60.0, 25.0)
    # pharmacy: late in B (updated 07-01)
    assert _v(g(CITY, "pharmacy_mask_stock")) == (150, "pharmacy", t("2021-07-09T03:00"), False)
    assert _v(g(KB, "pharmacy_mask_stock")) == (50, "pharmacy", t("2021-07-01T03:00"), True)
    assert _v(g(CITY, "pharmacy_hand_sanitizer_stock"))[3] is True
    assert _v(g(KA, "pharmacy_hand_sanitizer_stock")) == (None, "pharmacy", None, True)
    # entries: city only, the day before
    assert _v(g(CITY, "people_entering")) == (150, "entries", t("2021-07-09T23:00"), False)
    with pytest.raises(KeyError):
        g(KA, "people_entering")
    # aid: per item, the day before; the kota's own rows count for the city only
    aid = t("2021-07-09T10:00")
    assert _v(g(CITY, "aid_received:beras")) == (500, "aid", aid, False)
    assert _v(g(CITY, "aid_received:masker")) == (1000, "aid", aid, False)
    assert _v(g(CITY, "aid_distributed:beras")) == (200, "aid", aid, False)
    assert _v(g(KA, "aid_received:masker")) == (None, "aid", None, True)
    assert _v(g(KB, "aid_distributed:beras")) == (200, "aid", aid, False)
    assert g(CITY, "aid_received:beras").unit == "kg"


def test_tight_late_threshold_and_empty_day(engine: Engine) -> None:
    r = build_report(engine, DAY, WIB, late_after_h=2)  # late before 07-10 03:00 UTC
    assert r.get(CITY, "people_seen").late is False
    assert r.get(CITY, "cases_resident_confirmed").late is True  # 02:00
    assert r.get(CITY, "beds_total").late is False  # 03:00
    empty = build_report(engine, date(2020, 1, 1), WIB)
    assert all(f.late for f in empty.figures)
    assert _v(empty.get(CITY, "people_seen")) == (0, "counts", None, True)
    assert _v(empty.get(CITY, "aid_received")) == (None, "aid", None, True)


def test_files_written_and_parseable(engine: Engine, tmp_path: Path) -> None:
    r = build_report(engine, DAY, WIB)
    paths = write_report(r, tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"siaga-report-2021-07-10.{x}" for x in ("csv", "html", "json")]
    doc = json.loads(paths["json"].read_text())
    assert doc["date"] == "2021-07-10" and doc["cutoff"] == "2021-07-10T12:00:00+07:00"
    assert len(doc["figures"]) == len(r.figures)
    f0 = doc["figures"][0]
    assert f0 == {"area": CITY, "area_name": "Kota Semarang", "level": "kota",
                  "figure": "people_seen", "value": 40, "unit": "people", "source": "counts",
                  "as_of": "2021-07-10T04:00:00+00:00", "late": False}  # fmt: skip
    rows = list(csv.DictReader(paths["csv"].open(encoding="utf-8")))
    assert len(rows) == len(r.figures)
    by = {(x["area"], x["figure"]): x for x in rows}
    assert by[(KB, "cases_resident_confirmed")]["late"] == "1"
    assert by[(CITY, "cases_non_resident_active")]["value"] == ""
    assert {"area", "figure", "value", "source", "as_of", "late"} <= set(rows[0])
    page = paths["html"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Kec B" in page and 'class="late"' in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    write_report(r, tmp_path / "out")  # rewrite in place; no temporary files left
    assert len(list((tmp_path / "out").iterdir())) == 3


def _touch(d: Path, *days: str) -> None:
    d.mkdir(exist_ok=True)
    for s in days:
        (d / f"siaga-report-{s}.json").write_text("{}")


@pytest.mark.parametrize(
    ("written", "now_wib", "expected"),
    [
        ((), "2021-07-10T11:59", ["2021-07-09"]),
        ((), "2021-07-10T12:00", ["2021-07-10"]),
        (("2021-07-09",), "2021-07-10T11:00", []),
        (("2021-07-09",), "2021-07-10T12:01", ["2021-07-10"]),
        (("2021-07-10",), "2021-07-10T13:00", []),
        (("2021-07-07",), "2021-07-10T13:00", ["2021-07-08", "2021-07-09", "2021-07-10"]),
        (("2021-07-07",), "2021-07-10T08:00", ["2021-07-08", "2021-07-09"]),
        (("2021-07-05", "2021-07-07"), "2021-07-08T12:30", ["2021-07-08"]),
        (("2021-06-01",), "2021-07-10T13:00", [f"2021-07-{d:02d}" for d in range(4, 11)]),
        (("2021-07-09", "2021-07-20"), "2021-07-10T13:00", ["2021-07-10"]),  # future ignored
    ],
)
def test_due_reports(tmp_path: Path, written: tuple[str, ...], now_wib: str,
                     expected: list[str]) -> None:  # fmt: skip
    out = tmp_path / "reports"
    _touch(out, *written)
    (out / "siaga-report-2021-07-06.csv").write_text("")  # a CSV alone is not a report
    now = datetime.fromisoformat(now_wib).replace(tzinfo=WIB).astimezone(UTC)
    assert [d.isoformat() for d in due_reports(out, now, WIB, 12, 0)] == expected


def test_due_reports_missing_folder(tmp_path: Path) -> None:
    now = datetime(2021, 7, 10, 6, tzinfo=UTC)  # 13:00 WIB
    assert due_reports(tmp_path / "nope", now, WIB) == [date(2021, 7, 10)]


def test_cli_report(engine: Engine, db_url: str, tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    out = tmp_path / "r"
    base = ["central", "report", "--db", db_url, "--config", str(tmp_path / "none.toml")]
    (tmp_path / "none.toml").write_text("")
    assert main([*base, "--date", "2021-07-10", "--out", str(out)]) == 0
    assert (out / "siaga-report-2021-07-10.json").is_file()
    assert (out / "siaga-report-2021-07-10.html").is_file()
    assert "siaga-report-2021-07-10.csv" in capsys.readouterr().out
    assert main([*base, "--date", "2021-13-40", "--out", str(out)]) == 2
    assert main([*base, "--date", "2021-07-10", "--out", str(tmp_path / "none.toml")]) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("[report]\nhour = 25\n")
    assert main(["central", "report", "--db", db_url, "--config", str(bad),
                 "--date", "2021-07-10", "--out", str(out)]) == 2  # fmt: skip


def _cfg(out: Path) -> Any:
    from central.config import CentralConfig, ReportSection

    return CentralConfig(report=ReportSection(output_dir=out))


def test_scheduler_catches_up_then_waits(engine: Engine, tmp_path: Path) -> None:
    from central.report.run import ReportScheduler

    out = tmp_path / "reports"
    _touch(out, "2021-07-07")
    s = ReportScheduler(engine, _cfg(out))
    assert s.run_once(datetime(2021, 7, 10, 6, tzinfo=UTC)) is True  # 13:00 WIB
    assert s.written == [date(2021, 7, 8), date(2021, 7, 9), date(2021, 7, 10)]
    assert json.loads((out / "siaga-report-2021-07-10.json").read_text())["figures"]
    assert s.run_once(datetime(2021, 7, 10, 7, tzinfo=UTC)) is True
    assert len(s.written) == 3  # nothing new due
    s.start()
    s.stop()


def test_scheduler_off_without_state_directory(engine: Engine, tmp_path: Path) -> None:
    from central.report.run import ReportScheduler

    s = ReportScheduler(engine, _cfg(tmp_path / "missing" / "reports"))
    assert s.run_once(datetime(2021, 7, 10, 6, tzinfo=UTC)) is True
    assert s.written == [] and not (tmp_path / "missing").exists()
