"""GET /areas.geojson: every kelurahan with its polygon and latest figures, public, on both DBs;
hand-computed figures, the map's data states, rebuilt once per pass, valid against the schema."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from central.api.app import ApiContext, create_app
from central.api.geo import AreaShape, area_properties, data_state
from central.areas import sync_areas, sync_cameras
from central.config import SummariesSection
from central.summaries import Summarizer, SummaryBoard
from tests.central.civic.test_civic_figures import CASES
from tests.central.summary_fixtures import (
    SQUARE,
    A,
    B,
    C,
    count_row,
    insert_rows,
    registry,
    small_areas,
    wib,
)
from tests.contract_site.contract_check import problems

NOW = wib(10, 12, 0)


def _pass(engine: Engine, board: SummaryBoard, summarizer: Summarizer, now: Any) -> None:
    board.update(summarizer.compute(now), computed_at=now, pass_s=0.01)


def test_areas_geojson(engine: Engine) -> None:
    areas, board = small_areas(), SummaryBoard()
    cams = registry(areas)
    sync_areas(engine, areas)
    sync_cameras(engine, cams)
    with engine.begin() as conn:
        for table, row in CASES:
            conn.execute(insert(table), [row])
    # A: one camera reporting 45 people, 30 masked, 10 unmasked two minutes ago.
    insert_rows(engine, [count_row("box1", "cam1", A, NOW - timedelta(minutes=2), 0, 45, 30, 10)])
    summarizer = Summarizer(engine, SummariesSection(), areas, cams)
    client = TestClient(create_app(ApiContext(engine=engine, board=board, cameras=cams)))
    before = client.get("/areas.geojson")  # before the first pass: shapes, no figures
    assert before.status_code == 200 and before.headers["content-type"] == "application/geo+json"
    assert [f["properties"]["data_state"] for f in before.json()["features"]] == ["no_summary"] * 3

    _pass(engine, board, summarizer, NOW)
    r = client.get("/areas.geojson")  # public: no token
    body = r.json()
    assert problems("areas.geojson", body) == []
    assert body["type"] == "FeatureCollection" and body["min_people_for_ratio"] == 20
    assert body["computed_at"] == NOW.isoformat()
    feats = {f["id"]: f for f in body["features"]}
    assert list(feats) == sorted([A, B, C])  # every kelurahan of the registry, by code
    assert feats[A]["geometry"] == {"type": "MultiPolygon",  # as the registry stores it
                                    "coordinates": json.loads(json.dumps([SQUARE]))}  # fmt: skip
    assert feats[B]["geometry"] is None  # no boundary in the file
    a = feats[A]["properties"]
    interval = board.get("kelurahan", A).payload["periods"]["recent"].get("interval") or {}  # type: ignore[union-attr]
    assert a == {
        "code": A, "name": "Miroto", "kecamatan_code": "33.74.01",
        "kecamatan_name": "Semarang Tengah", "data_state": "ok",
        "compliance_recent": 0.75, "compliance_recent_low": interval.get("low"),
        "compliance_recent_high": interval.get("high"),
        "people_seen_recent": 45, "judged_recent": 40,
        "compliance_today": 0.75, "people_seen_today": 45, "judged_today": 40,
        "cameras_expected": 3, "cameras_reporting": 1,
        "newest_window_end": (NOW - timedelta(minutes=2)).isoformat(), "age_s": 120.0,
        "cases_active": 20, "cases_new_7d": 30, "weekly_rate_per_100k": 60.0, "ppkm_level": 2,
    }  # fmt: skip
    # B: one expected camera, silent; C: no camera at all. Neither shows a ratio.
    assert feats[B]["properties"]["data_state"] == "no_data"
    assert feats[C]["properties"]["data_state"] == "no_camera"
    assert feats[C]["properties"]["compliance_recent"] is None
    assert feats[C]["properties"]["weekly_rate_per_100k"] == 20.0

    # Between passes the same bytes; the next pass's figures show at once.
    assert client.get("/areas.geojson").content == r.content
    later = NOW + timedelta(minutes=1)
    insert_rows(engine, [count_row("box2", "cam1", B, later, 0, 8, 5, 3)])
    _pass(engine, board, summarizer, later)
    b = {f["id"]: f for f in client.get("/areas.geojson").json()["features"]}[B]["properties"]
    assert (b["data_state"], b["people_seen_recent"], b["judged_recent"]) == (
        "too_few_people", 8, 8)  # fmt: skip
    assert b["compliance_recent"] is None  # 8 judged < 20: no ratio, never 0 %


@pytest.mark.parametrize(
    ("compliance", "expected", "reporting", "state"),
    [
        (0.5, 2, 1, "ok"),
        (0.0, 0, 1, "ok"),  # 0 % is a figure when enough people were judged
        (None, 2, 1, "too_few_people"),
        (None, 0, 1, "too_few_people"),  # an unregistered camera reporting
        (None, 2, 0, "no_data"),
        (None, 0, 0, "no_camera"),
    ],
)
def test_data_state(compliance: float | None, expected: int, reporting: int, state: str) -> None:
    payload = {"periods": {"recent": {"compliance": compliance}},
               "cameras": {"expected": expected, "reporting": reporting}}  # fmt: skip
    assert data_state(payload) == state
    assert data_state(None) == "no_summary"


def test_properties_carry_the_interval_when_the_summary_has_one() -> None:
    shape = AreaShape(A, "Miroto", "33.74.01", None, "null")
    interval = {"method": "wilson", "level": 0.95, "low": 0.45, "high": 0.73, "n": 40}
    recent = {"compliance": 0.6, "people_seen": 50, "judged": 40, "interval": interval}
    props = area_properties(shape, {"periods": {"recent": recent, "today": {}},
                                    "cameras": {"expected": 1, "reporting": 1}})  # fmt: skip
    assert (props["compliance_recent_low"], props["compliance_recent_high"]) == (0.45, 0.73)
