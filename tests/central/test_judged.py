"""Issue 22: what counts towards compliance (central/judged.py), hand-computed on one scenario and
checked in every figure that uses it: summaries, the daily report, open data, the rules' figures
and /cameras, on SQLite and PostgreSQL.

A camera whose agent marks its windows suitable = false keeps its people seen everywhere but is
left out of compliance (unless include_unsuitable_cameras); compliance needs min_people people
*judged*: a kelurahan with a thousand people seen and 15 judged has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from central import judged
from central.api.app import ApiContext, create_app
from central.areas import sync_areas, sync_cameras
from central.config import SummariesSection
from central.opendata import build_opendata
from central.report.build import build_report
from central.rules import DEFAULT_RULES, gather
from central.store.writes import Store
from central.summaries import Summarizer, SummaryBoard
from siaga.wire import CameraHealth, Judgement, StatusMessage
from tests.central.api_fixtures import reader_headers
from tests.central.ingest.test_ingest import MODEL
from tests.central.summary_fixtures import (
    K2,
    WIB,
    A,
    B,
    count_row,
    insert_rows,
    migrated_engine,
    registry,
    small_areas,
    wib,
)

NOW = wib(10, 10, 0)  # 2025-06-10 10:00 WIB
DAY = date(2025, 6, 10)  # report and open data: cut off at 12:00 that day, all windows in
CITY = "33.74"
MIN = 20
WIDE = "faces too small to judge masks"

# (agent, camera, reported kelurahan, window_end, people, masked, unmasked, suitable)
WINDOWS = [
    ("box1", "cam1", A, wib(10, 9, 55), 30, 24, 6, None),  # an older agent: all judged
    ("box1", "cam2", A, wib(10, 9, 50), 40, 10, 10, True),  # 20 seen, not judged
    ("box2", "cam1", B, wib(10, 9, 55), 500, 4, 1, False),  # a wide view: not suitable
    ("box2", "cam9", B, wib(10, 9, 50), 500, 5, 10, True),  # many seen, 15 judged
    ("box3", "camX", A, wib(9, 18, 0), 100, 57, 43, False),  # yesterday: not suitable
    ("box3", "camX", A, wib(10, 9, 45), 10, 5, 5, None),  # its newest: not assessed
    ("box4", "cam1", B, wib(10, 9, 58), 4, 2, 2, False),  # unregistered, not suitable
]

# 7-day period: (level, key) -> (people_seen, masked, unmasked, judged, not_judged,
# unsuitable_people, compliance), unsuitable cameras left out (default) or included.
LEFT_OUT = {
    ("camera", "box1/cam1"): (30, 24, 6, 30, 0, 0, 0.8),
    ("camera", "box1/cam2"): (40, 10, 10, 20, 20, 0, 0.5),
    ("camera", "box2/cam1"): (500, 0, 0, 0, 500, 500, None),
    ("camera", "box2/cam9"): (500, 5, 10, 15, 485, 0, None),  # 500 seen, 15 judged: no ratio
    ("camera", "box3/camX"): (110, 5, 5, 10, 100, 100, None),
    ("camera", "box4/cam1"): (4, 0, 0, 0, 4, 4, None),
    ("kelurahan", A): (180, 39, 21, 60, 120, 100, 0.65),
    ("kelurahan", B): (1004, 5, 10, 15, 989, 504, None),
    ("city", ""): (1184, 44, 31, 75, 1109, 604, 0.5867),
}
INCLUDED = {
    ("camera", "box2/cam1"): (500, 4, 1, 5, 495, 500, None),
    ("camera", "box3/camX"): (110, 62, 48, 110, 0, 100, 0.5636),
    ("kelurahan", A): (180, 96, 64, 160, 20, 100, 0.6),
    ("kelurahan", B): (1004, 11, 13, 24, 980, 504, 0.4583),
    ("city", ""): (1184, 107, 77, 184, 1000, 604, 0.5815),
}
FIELDS = ("people_seen", "masked", "unmasked", "judged", "not_judged", "unsuitable_people",
          "compliance")  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Engine]:  # fmt: skip
    with migrated_engine(request, request.param, tmp_path_factory.mktemp("judged")) as engine:
        areas = small_areas()
        sync_areas(engine, areas)
        sync_cameras(engine, registry(areas))
        insert_rows(engine, [{**count_row(a, c, k, end, i, p, m, u), "suitable": s}
                             for i, (a, c, k, end, p, m, u, s) in enumerate(WINDOWS)])  # fmt: skip
        yield engine


def summaries(engine: Engine, include: bool) -> dict[tuple[str, str], dict[str, Any]]:
    cfg = SummariesSection(min_people_for_ratio=MIN, include_unsuitable_cameras=include)
    areas = small_areas()
    out = Summarizer(engine, cfg, areas, registry(areas)).compute(NOW)
    return {(s.level, s.key): s.payload for s in out}


@pytest.mark.parametrize(("include", "expected"), [(False, LEFT_OUT), (True, INCLUDED)])
def test_summaries(engine: Engine, include: bool, expected: dict[Any, tuple[Any, ...]]) -> None:
    got = summaries(engine, include)
    for key, figures in expected.items():
        period = got[key]["periods"]["7d"]
        assert tuple(period[f] for f in FIELDS) == figures, key
    assert got[("city", "")]["include_unsuitable_cameras"] is include


def test_summaries_recent_and_each_cameras_newest_flag(engine: Engine) -> None:
    got = summaries(engine, False)
    camx = got[("camera", "box3/camX")]["periods"]["recent"]  # yesterday's window is not recent
    assert tuple(camx[f] for f in FIELDS) == (10, 5, 5, 10, 0, 0, None)
    a = got[("kelurahan", A)]["periods"]["recent"]
    assert tuple(a[f] for f in FIELDS) == (80, 39, 21, 60, 20, 0, 0.65)
    flags = {
        key: got[("camera", key)]["suitable"]
        for key in ("box1/cam1", "box1/cam2", "box2/cam1", "box2/cam9", "box3/camX", "box4/cam1")
    }
    assert flags == {"box1/cam1": None, "box1/cam2": True, "box2/cam1": False,
                     "box2/cam9": True, "box3/camX": None,  # its newest says nothing
                     "box4/cam1": False}  # fmt: skip


def test_compliance_gates_on_people_judged() -> None:
    assert judged.compliance(5, 10, MIN) is None  # whatever the people seen behind it
    assert judged.compliance(0, 0, 1) is None
    assert judged.compliance(12, 8, MIN) == 0.6
    assert judged.newest_flag(None, None, None) is None


@pytest.mark.parametrize("include", [False, True])
def test_report(engine: Engine, include: bool) -> None:
    r = build_report(engine, DAY, WIB, min_people_for_ratio=MIN, include_unsuitable=include,
                     now=NOW)  # fmt: skip
    figures = ("people_seen", "masked", "unmasked", "judged", "not_judged", "mask_compliance")
    city = tuple(r.get(CITY, f).value for f in figures)
    kec = tuple(r.get(K2, f).value for f in figures)
    if include:
        assert city == (1184, 107, 77, 184, 1000, 0.5815)
        assert kec == (1004, 11, 13, 24, 980, 0.4583)
    else:
        assert city == (1184, 44, 31, 75, 1109, 0.5867)
        assert kec == (1004, 5, 10, 15, 989, None)  # 15 judged of 1004 seen: no ratio
    assert r.get(CITY, "judged").source == "counts"


@pytest.mark.parametrize("include", [False, True])
def test_opendata(engine: Engine, include: bool) -> None:
    d = build_opendata(engine, DAY, WIB, min_people_for_ratio=MIN, include_unsuitable=include,
                       now=NOW)  # fmt: skip
    rows = {r["kelurahan_code"]: r for r in d.kelurahan}
    cols = ("people_seen", "masked", "unmasked", "judged", "not_judged", "mask_compliance")
    a, b = (tuple(rows[k][c] for c in cols) for k in (A, B))
    if include:
        assert (a, b) == ((180, 96, 64, 160, 20, 0.6), (1004, 11, 13, 24, 980, 0.4583))
    else:
        assert (a, b) == ((180, 39, 21, 60, 120, 0.65), (1004, 5, 10, 15, 989, None))


@pytest.mark.parametrize(("include", "masked", "unmasked"), [(False, 5, 10), (True, 11, 13)])
def test_rules_figures(engine: Engine, include: bool, masked: int, unmasked: int) -> None:
    k = gather(engine, DEFAULT_RULES, NOW, include_unsuitable=include).kelurahan[B]
    assert (k.people_seen, k.masked, k.unmasked) == (1004, masked, unmasked)
    assert k.judged == masked + unmasked


def _health(judgement: Judgement | None = None) -> CameraHealth:
    return CameraHealth(fps=5.0, inference_ms=20.0, reconnects=0, stalls=0, connected=True,
                        judgement=judgement)  # fmt: skip


def test_cameras_show_judgement_and_newest_flag(engine: Engine) -> None:
    store = Store(engine)
    for agent, health in {
        "box1": {"cam1": _health()},  # an older agent: no judgement
        "box2": {"cam1": _health(Judgement(suitable=False, reason=WIDE, faces=240, judgeable=6)),
                 "cam9": _health(Judgement(suitable=True, faces=80, judgeable=60))},
    }.items():  # fmt: skip
        status = StatusMessage(agent_id=agent, time=NOW, version="1", uptime_s=1.0, model=MODEL,
                               cameras=health, outbox_depth=0, dropped=0)  # fmt: skip
        store.set_status(agent, status.to_payload().decode(), NOW)
    areas = small_areas()
    board = SummaryBoard()
    board.update(Summarizer(engine, SummariesSection(), areas, registry(areas)).compute(NOW),
                 computed_at=NOW, pass_s=0.0)  # fmt: skip
    ctx = ApiContext(engine=engine, board=board, cameras=registry(areas))
    with TestClient(create_app(ctx), headers=reader_headers(engine)) as client:
        body = client.get("/cameras").json()
    cams = {f"{c['agent_id']}/{c['camera_id']}": c for c in body}
    wide = cams["box2/cam1"]
    assert wide["judgement"] == {"suitable": False, "reason": WIDE, "faces": 240, "judgeable": 6}
    assert wide["suitable"] is False
    ok = cams["box2/cam9"]
    assert (ok["judgement"]["suitable"], ok["judgement"]["reason"], ok["suitable"]) == (
        True, None, True)  # fmt: skip
    assert (cams["box1/cam1"]["judgement"], cams["box1/cam1"]["suitable"]) == (None, None)
    assert cams["box1/cam2"]["suitable"] is True  # from its window; no judgement in status
    assert (cams["box3/camX"]["judgement"], cams["box3/camX"]["suitable"]) == (None, None)
    assert (cams["box4/cam1"]["registered"], cams["box4/cam1"]["suitable"]) == (False, False)
