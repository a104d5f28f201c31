"""The dashboard's own routes: the page with its Content-Security-Policy, static files confined
to the package, the per-view config (the broker credential for read tokens only) and the map's
hospital and pharmacy points from the civic tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from central.api.app import ApiContext, create_app
from central.areas import CameraRegistry, sync_areas
from central.civic import MODULES
from central.civic.common import AreaCodes, RawRow
from central.civic.importer import validate_rows, write_rows
from central.config import DashboardSection
from central.store.engine import make_engine
from central.store.migrations import migrate
from central.summaries import SummaryBoard
from tests.central.api_fixtures import reader_headers
from tests.central.summary_fixtures import A, B, small_areas

WS = "wss://broker.example:8884/mqtt"
SECTION = DashboardSection(mqtt_ws_url=WS, mqtt_username="dash", mqtt_password=SecretStr("s3cret"),
                           tile_url="https://tiles.example/{z}/{x}/{y}.png")  # fmt: skip


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = make_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    migrate(e)
    sync_areas(e, small_areas())
    yield e
    e.dispose()


def client(engine: Engine, section: DashboardSection, reports: Path | None = None) -> TestClient:
    ctx = ApiContext(engine=engine, board=SummaryBoard(), cameras=CameraRegistry(),
                     dashboard=section, report_dir=reports)  # fmt: skip
    return TestClient(create_app(ctx))


def test_page_and_its_policy(engine: Engine) -> None:
    api = client(engine, SECTION)
    for path in ("/dashboard", "/dashboard/ops"):
        r = api.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self';" in csp
        assert "connect-src 'self' wss://broker.example:8884;" in csp
        assert "img-src 'self' data: https://tiles.example;" in csp
        assert "s3cret" not in r.text
    js = api.get("/dashboard/static/vendor/leaflet/leaflet.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    for bad in ("/dashboard/static/../../api/app.py", "/dashboard/static/%2e%2e/__init__.py",
                "/dashboard/static/nothing.js", "/dashboard/static/dashboard"):  # fmt: skip
        assert api.get(bad).status_code == 404, bad
    # Without a broker or tiles the page may reach its own origin only.
    bare = client(engine, DashboardSection()).get("/dashboard").headers["content-security-policy"]
    assert "connect-src 'self';" in bare and "img-src 'self' data:;" in bare
    assert client(engine, DashboardSection(enabled=False)).get("/dashboard").status_code == 404


def test_config_per_view(engine: Engine, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    for day in ("2026-12-03", "2026-12-04"):
        (reports / f"siaga-report-{day}.html").write_text("<p>laporan</p>")
    (reports / "siaga-report-2026-12-05.csv").write_text("csv only")
    api = client(engine, SECTION, reports)
    public = api.get("/dashboard/api/config").json()
    assert public["view"] == "public" and public["live"] == "/live/public"
    assert public["mqtt"] is None  # public_mqtt off: the public view uses the HTTP stream
    assert public["tile_url"] == SECTION.tile_url and public["topic_prefix"] == "siaga/v1"
    assert public["latest_report"] == "2026-12-04"
    assert api.get("/dashboard/api/config?view=ops").status_code == 401
    answer = api.get("/dashboard/api/config?view=ops", headers=reader_headers(engine))
    assert answer.headers["cache-control"] == "no-store"
    ops = answer.json()
    assert ops["mqtt"] == {"url": WS, "username": "dash", "password": "s3cret"}
    assert ops["live"] == "/live/ops"
    assert api.get("/dashboard/api/config?view=admin").status_code == 422
    # The public role's credential goes to everyone when the public view uses the broker.
    pub = SECTION.model_copy(update={"public_mqtt": True, "public_username": "warga",
                                     "public_password": "terbuka"})  # fmt: skip
    body = client(engine, pub).get("/dashboard/api/config").json()
    assert body["mqtt"] == {"url": WS, "username": "warga", "password": "terbuka"}


def test_points(engine: Engine) -> None:
    now = datetime.now(ZoneInfo("Asia/Jakarta"))
    codes = AreaCodes(kota="33.74", kelurahan=frozenset({A, B}))
    beds = [{"hospital_id": "rs-1", "date": now.date().isoformat(), "room_type": rt,
             "hospital_name": "RS Satu", "kelurahan_code": A, "jumlah": n, "terpakai": u,
             "terpakai_suspek": 0, "terpakai_konfirmasi": u, "antrian": 0, "prepare": 0,
             "kosong": n - u} for rt, n, u in (("isolasi", 20, 15), ("icu", 5, 5))]  # fmt: skip
    stock = [{"pharmacy_id": pid, "item": "mask", "pharmacy_name": pid, "kelurahan_code": B,
              "lat": -6.95, "lng": 110.42, "quantity": q, "unit": "box",
              "as_of": now.isoformat()}
             for pid, q in (("apotek-a", 3), ("apotek-b", 500))]  # fmt: skip
    for module, raws in (("beds", beds), ("pharmacy", stock)):
        rows = validate_rows(MODULES[module], [RawRow(i + 1, r) for i, r in enumerate(raws)],
                             codes, where="test")  # fmt: skip
        write_rows(engine, MODULES[module], rows, who="test", now=now)
    body = client(engine, DashboardSection()).get("/dashboard/api/points").json()
    assert body["hospitals"] == [{"id": "rs-1", "name": "RS Satu", "kelurahan_code": A,
                                  "lat": -6.95, "lng": 110.05, "beds": 25, "used": 20, "free": 5,
                                  "as_of": now.date().isoformat(), "occupancy": 0.8}]  # fmt: skip
    low = {p["id"]: p["low_mask_stock"] for p in body["pharmacies"]}
    assert low == {"apotek-a": True, "apotek-b": False}


def test_section(tmp_path: Path) -> None:
    ok = DashboardSection(tile_url="//tiles.kota/{z}/{x}/{y}.png", mqtt_ws_url="ws://10.0.0.2:8084")
    assert ok.tile_url and ok.mqtt_ws_url
    for bad in ({"tile_url": "https://tiles.kota/tile.png"}, {"mqtt_ws_url": "mqtt://x:1883"},
                {"fallback_after_s": 0}):  # fmt: skip
        with pytest.raises(ValueError):
            DashboardSection.model_validate(bad)
    secret = tmp_path / "mqtt-password"
    secret.write_text("rahasia\n")
    secret.chmod(0o600)
    section = DashboardSection.model_validate({"mqtt_password_file": str(secret)})
    assert section.mqtt_password is not None
    assert section.mqtt_password.get_secret_value() == "rahasia"
    secret.chmod(0o644)  # readable by every user: refused
    with pytest.raises(ValueError, match="any user"):
        DashboardSection.model_validate({"mqtt_password_file": str(secret)})
