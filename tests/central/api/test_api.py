"""HTTP API with FastAPI's TestClient on a populated, migrated SQLite database."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from central.api.app import ApiContext, create_app
from central.areas import sync_areas, sync_cameras
from central.config import SummariesSection
from central.store.writes import Store
from central.summaries import Summarizer, SummaryBoard
from tests.central.api_fixtures import reader_headers
from tests.central.summary_fixtures import (
    A,
    B,
    C,
    count_row,
    insert_rows,
    migrated_engine,
    registry,
    small_areas,
)

NOW = datetime.now(UTC).replace(microsecond=0)
# (agent, camera, kelurahan, minutes ago, seq): box1 misses seqs 3-4 and 7-8.
ROWS = [
    ("box1", "cam1", A, 50, 0), ("box1", "cam1", A, 40, 1), ("box1", "cam2", A, 40, 2),
    ("box1", "cam1", A, 30, 5), ("box1", "cam2", A, 30, 6), ("box1", "cam1", A, 20, 9),
    ("box2", "cam1", B, 30, 0), ("box2", "cam1", B, 10, 1), ("box4", "cam1", B, 5, 0),
    ("box2", "cam1", B, 60 * 24 * 3, 2),  # three days ago: outside the default hour
]  # fmt: skip
# A whole siaga.status/1 (the collector stores only statuses the wire model accepts).
STATUS = {"schema": "siaga.status/1", "agent_id": "box1", "time": NOW.isoformat(),
          "version": "0.1.0", "uptime_s": 60.0, "outbox_depth": 0, "dropped": 0,
          "model": {"name": "m", "version": "1", "sha256": "0" * 64},
          "cameras": {"cam1": {"fps": 5.0, "inference_ms": 20.0, "reconnects": 1, "stalls": 0,
                               "corrupt_frames": 0, "connected": True}}}  # fmt: skip

# The shape of Collector.metrics().
INGEST = {"instance": "central-1", "connected": True, "stored": 12, "queue_depth": 3,
          "rejected": {"not_json": 2}, "rejected_total": 2, "lag_ms_p50": None}  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ctx(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ApiContext]:  # fmt: skip
    with migrated_engine(request, request.param, tmp_path_factory.mktemp("api")) as engine:
        yield populated(engine)


def populated(engine: Engine) -> ApiContext:
    areas = small_areas()
    cams = registry(areas)
    sync_areas(engine, areas)
    sync_cameras(engine, cams)
    insert_rows(engine, [count_row(a, c, k, NOW - timedelta(minutes=m), s, 10 + s, 5, 3)
                         for a, c, k, m, s in ROWS])  # fmt: skip
    store = Store(engine)
    store.set_availability("box1", "online", NOW)
    store.set_status("box1", json.dumps(STATUS), NOW)
    board = SummaryBoard()
    summarizer = Summarizer(engine, SummariesSection(), areas, cams)
    board.update(summarizer.compute(NOW), computed_at=NOW, pass_s=0.01)
    return ApiContext(engine=engine, board=board, cameras=cams, gaps=store.gaps,
                      ingest_metrics=lambda: INGEST,
                      mqtt_connected=lambda: {"ingest": True, "summaries": True})  # fmt: skip


@pytest.fixture(scope="module")
def auth(ctx: ApiContext) -> dict[str, str]:
    """An operator's read token: these tests read operator data (access: test_api_access.py)."""
    return reader_headers(ctx.engine)


@pytest.fixture(scope="module")
def client(ctx: ApiContext, auth: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), headers=auth) as c:
        yield c


def test_health_and_docs(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["database"] is True
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/metrics", "/areas", "/cameras", "/agents", "/gaps", "/windows"} <= set(
        paths
    )


def test_health_degraded_when_mqtt_down(ctx, auth):
    down = ApiContext(engine=ctx.engine, board=SummaryBoard(), cameras=ctx.cameras,
                      mqtt_connected=lambda: {"ingest": False})  # fmt: skip
    with TestClient(create_app(down), headers=auth) as c:
        r = c.get("/healthz")
        assert r.status_code == 503
        assert r.json()["mqtt"] == {"ingest": False} and r.json()["last_summary_age_s"] is None
        assert c.get("/summaries/city").status_code == 503  # no pass yet


@pytest.mark.parametrize(
    ("path", "status", "check"),
    [
        ("/summaries/city", 200, lambda b: b["periods"]["7d"]["windows"] == 10),
        ("/summaries/kelurahan", 200, lambda b: [s["code"] for s in b] == [A, C, B]),
        (f"/summaries/kelurahan/{A}", 200, lambda b: b["name"] == "Miroto"),
        ("/summaries/camera/box1/cam1", 200, lambda b: b["periods"]["7d"]["windows"] == 4),
        ("/summaries/camera/box9/cam1", 404, lambda b: "no camera summary" in b["detail"]),
        ("/summaries/province", 422, lambda b: b["detail"].startswith("path.level: Input should")),
    ],
)  # fmt: skip
def test_summaries(client, path, status, check):
    r = client.get(path)
    assert r.status_code == status
    assert check(r.json())


def test_areas(client):
    body = client.get("/areas").json()
    assert [(k["code"], [x["code"] for x in k["kelurahan"]]) for k in body] == [
        ("33.74.01", [A, "33.74.01.1002"]), ("33.74.02", [B])
    ]  # fmt: skip
    assert body[0]["kelurahan"][0]["centroid"] == [110.05, -6.95]
    withgeo = client.get("/areas", params={"boundaries": "true"}).json()
    assert withgeo[0]["kelurahan"][0]["boundary"]["type"] == "MultiPolygon"


def test_cameras_and_agents(client):
    cams = {(c["agent_id"], c["camera_id"]): c for c in client.get("/cameras").json()}
    assert len(cams) == 6  # five registered, box4/cam1 seen but unregistered
    c1 = cams[("box1", "cam1")]
    assert (c1["availability"], c1["health"]["fps"], c1["name"]) == ("online", 5.0, "Pasar")
    assert c1["last_window_end"] == (NOW - timedelta(minutes=20)).isoformat()
    assert cams[("box3", "camX")]["last_window_end"] is None
    assert cams[("box4", "cam1")]["registered"] is False
    agents = {a["agent_id"]: a for a in client.get("/agents").json()}
    assert agents["box1"]["status"]["cameras"]["cam1"]["reconnects"] == 1
    assert agents["box1"]["availability"] == "online"
    assert not any(a["revoked"] for a in agents.values())


def test_agents_show_the_live_revoked_list(ctx: ApiContext, auth: dict[str, str]) -> None:
    revoked: set[str] = set()
    live = ApiContext(engine=ctx.engine, board=ctx.board, cameras=ctx.cameras,
                      revoked=lambda: frozenset(revoked))  # fmt: skip
    with TestClient(create_app(live), headers=auth) as c:
        assert not any(a["revoked"] for a in c.get("/agents").json())
        revoked.add("box1")  # `siaga fleet revoke box1`: the collector re-reads the file
        flags = {a["agent_id"]: a["revoked"] for a in c.get("/agents").json()}
        assert flags["box1"] is True and not any(v for k, v in flags.items() if k != "box1")


def test_gaps(client):
    body = client.get("/gaps").json()
    assert body == {"agents": [{"agent_id": "box1", "missing": 4, "gaps": [
        {"epoch": "", "first": 3, "last": 4, "size": 2},
        {"epoch": "", "first": 7, "last": 8, "size": 2}]}]}  # fmt: skip
    assert client.get("/gaps", params={"agent_id": "box2"}).json() == {"agents": []}


def _iso(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat()


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"from": _iso(10), "to": _iso(20)}, 400, "'from' must be before 'to'"),
        ({"from": _iso(60 * 24 * 40), "to": _iso(0)}, 400, "range too long: at most 31 days"),
        ({"from": "2025-06-01T10:00:00"}, 422, "query.from: Input should have timezone info"),
        ({"from": "yesterday"}, 422, "query.from: Input should be a valid datetime"),
        ({"kelurahan": "33.74"}, 422, "query.kelurahan: String should match pattern"),
        ({"format": "xml"}, 422, "query.format: Input should be 'json' or 'csv'"),
        ({"limit": 0}, 422, "query.limit: Input should be greater than or equal to 1"),
        ({"limit": 20_000}, 400, "limit: at most 10000 rows per JSON page"),
        ({"cursor": "bm9wZQ"}, 400, "invalid cursor"),
    ],
)
def test_windows_validation(client, params, status, detail):
    r = client.get("/windows", params=params)
    assert r.status_code == status
    assert r.json()["detail"].startswith(detail)


@pytest.mark.parametrize(
    ("params", "seqs"),
    [
        ({}, [("box1", 0), ("box1", 1), ("box1", 2), ("box1", 5), ("box1", 6), ("box2", 0),
              ("box1", 9), ("box2", 1), ("box4", 0)]),
        ({"kelurahan": B}, [("box2", 0), ("box2", 1), ("box4", 0)]),
        ({"agent_id": "box1", "camera_id": "cam2"}, [("box1", 2), ("box1", 6)]),
        ({"from": _iso(60 * 24 * 4), "to": _iso(60 * 24 * 2)}, [("box2", 2)]),
    ],
)  # fmt: skip
def test_windows_json_pages(client, params, seqs):
    got, cursor = [], None
    for _ in range(10):
        body = client.get("/windows", params={**params, "limit": 2, "cursor": cursor}).json()
        got += [(w["agent_id"], w["seq"]) for w in body["windows"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert got == seqs


def test_windows_csv(client):
    r = client.get("/windows", params={"format": "csv", "limit": 4})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["agent_id"], int(x["seq"])) for x in rows] == [("box1", 0), ("box1", 1),
                                                             ("box1", 2), ("box1", 5)]  # fmt: skip
    assert rows[0]["window_end"] == _iso(50) and rows[0]["people_seen"] == "10"
    rest = client.get("/windows", params={"format": "csv", "cursor": r.headers["x-next-cursor"]})
    assert len(list(csv.DictReader(io.StringIO(rest.text)))) == 5
    assert "x-next-cursor" not in rest.headers


def test_civic_input_is_served_and_needs_a_token(client: TestClient) -> None:
    r = client.post("/civic/beds", json={"rows": []}, headers={"Authorization": ""})
    assert r.status_code == 401
    r = client.post("/civic/beds", json=[])  # the client's read token writes nothing
    assert r.status_code == 403 and r.json()["detail"].endswith("may not write beds")
    assert "/civic/{module}" in client.get("/openapi.json").json()["paths"]


# ---- decisions: alerts, reports, open data ----


def test_alerts_reports_and_opendata(ctx: ApiContext, auth: dict[str, str], tmp_path) -> None:
    from central.rules import AlertStore, Bed, Figures, evaluate
    from central.rules.model import Rules

    rules = Rules.model_validate(
        {
            "low_compliance": {"enabled": False},
            "mask_stock": {"enabled": False},
            "ppkm": {"enabled": False},
        }
    )
    store = AlertStore(ctx.engine)
    t0 = datetime(2021, 7, 10, 5, tzinfo=UTC)
    t1 = t0 + timedelta(hours=1)
    two = Figures(beds=(Bed("rs-1", "RS 1", 10, 9), Bed("rs-2", "RS 2", 10, 1)))
    store.apply(evaluate(two, rules, t0), t0)  # city (10/20: none), rs-1 critical
    one = Figures(beds=(Bed("rs-1", "RS 1", 10, 1), Bed("rs-2", "RS 2", 10, 7)))
    store.apply(evaluate(one, rules, t1), t1)  # rs-1 resolved, rs-2 opened
    reports, opendata = tmp_path / "reports", tmp_path / "od"
    reports.mkdir()
    opendata.mkdir()
    (reports / "siaga-report-2021-07-10.html").write_text("<html>r</html>")
    (reports / "siaga-report-2021-07-10.json").write_text('{"date": "2021-07-10"}')
    (opendata / "kelurahan-daily-2021-07-10.csv").write_text("date,kelurahan_code\n")
    (opendata / "datadictionary.json").write_text("{}")
    app = ApiContext(engine=ctx.engine, board=ctx.board, cameras=ctx.cameras,
                     report_dir=reports, opendata_dir=opendata)  # fmt: skip
    with TestClient(create_app(app), headers=auth) as c:

        def areas(**params: str) -> list[tuple[str, str]]:
            r = c.get("/alerts", params=params)
            assert r.status_code == 200, r.text
            return [(a["area_code"], a["state"]) for a in r.json()]

        assert areas() == [("hospital/rs-2", "open")]
        assert areas(state="all") == [("hospital/rs-2", "open"), ("hospital/rs-1", "resolved")]
        assert areas(state="resolved", area="hospital/rs-1") == [("hospital/rs-1", "resolved")]
        assert areas(state="all", rule="ppkm_level") == []
        assert areas(state="all", since="2021-07-10T05:30:00Z") == [
            ("hospital/rs-2", "open"), ("hospital/rs-1", "resolved")]  # fmt: skip
        assert areas(state="all", since="2021-07-10T06:30:00Z") == []
        a = c.get("/alerts").json()[0]
        assert a["action"] == "prepare isolation beds" and a["figures"]["used"] == 7
        assert a["publish_pending"] == "open" and a["published_at"] is None
        assert c.get("/alerts", params={"state": "closed"}).status_code == 422
        assert c.get("/alerts", params={"since": "2021-07-10T05:30:00"}).status_code == 422

        r = c.get("/reports/2021-07-10", params={"format": "html"})
        assert r.status_code == 200 and r.text == "<html>r</html>"
        assert r.headers["content-type"].startswith("text/html")
        assert c.get("/reports/2021-07-10").json() == {"date": "2021-07-10"}
        r = c.get("/reports/2021-07-11")
        assert r.status_code == 404 and "siaga central report --date 2021-07-11" in r.text
        assert c.get("/reports/2021-13-01").status_code == 422
        r = c.get("/opendata/2021-07-10.csv")
        assert r.status_code == 200 and r.text.startswith("date,kelurahan_code")
        assert r.headers["content-type"].startswith("text/csv")
        assert c.get("/opendata/2021-07-10.json").status_code == 404
        assert c.get("/opendata/2021-07-10.xml").status_code == 422
        assert c.get("/opendata/datadictionary.json").json() == {}
        paths = c.get("/openapi.json").json()["paths"]
        assert {"/alerts", "/reports/{day}", "/opendata/{day}.{fmt}"} <= set(paths)
    bare = ApiContext(engine=ctx.engine, board=ctx.board, cameras=ctx.cameras)
    with TestClient(create_app(bare)) as c:
        assert c.get("/reports/2021-07-10").status_code == 503
