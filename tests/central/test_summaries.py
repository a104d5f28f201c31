"""Summaries: a hand-computed scenario checked figure by figure, then published on Mosquitto."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from central.config import MqttSection, SummariesSection
from central.service import SummaryPublisher
from central.store import schema
from central.summaries import (
    DAY_REFRESH_S,
    HOUR_REFRESH_S,
    SUMMARY_SCHEMA,
    Summarizer,
    Summary,
)
from tests.central.summary_fixtures import (
    K1,
    K2,
    A,
    B,
    C,
    count_row,
    insert_rows,
    migrated_engine,
    registry,
    small_areas,
    wib,
)
from tests.mqtt_broker import Subscriber

NOW = wib(10, 10, 0)  # 2025-06-10 10:00 WIB; today starts 00:00, 7d starts 2025-06-04 00:00
CFG = SummariesSection(recent_min=20, min_people_for_ratio=20, stale_after_s=300)

# (agent, camera, reported kelurahan, window_end, people, masked, unmasked)
WINDOWS = [
    ("box1", "cam1", A, wib(10, 9, 59), 15, 12, 2),  # recent
    ("box1", "cam1", A, wib(10, 9, 45), 10, 8, 1),  # recent
    ("box1", "cam1", A, wib(10, 9, 30), 20, 10, 10),  # today, older than 20 min
    ("box1", "cam1", A, wib(9, 18, 0), 40, 30, 5),  # yesterday
    ("box1", "cam1", A, wib(2, 12, 0), 100, 100, 0),  # 8 days old: nowhere
    ("box1", "cam2", C, wib(10, 9, 50), 8, 2, 6),  # registered in A, says C
    ("box1", "cam2", C, wib(4, 0, 30), 10, 5, 5),  # 6 days ago: in 7d
    ("box1", "cam2", C, wib(4, 0, 0), 7, 7, 0),  # ends at the 7d boundary: excluded
    ("box2", "cam1", B, wib(10, 9, 58), 5, 1, 3),  # recent
    ("box2", "cam1", B, wib(10, 0, 0), 9, 9, 0),  # ends at midnight: yesterday's
    ("box2", "cam1", B, wib(10, 8, 0), 30, 27, 3),  # today
    ("box2", "cam1", B, wib(10, 10, 6), 50, 50, 0),  # over 5 min in the future: excluded
    ("box2", "cam9", B, wib(10, 9, 0), 4, 4, 0),  # not expected, not reporting
    ("box4", "cam1", B, wib(10, 9, 57), 2, 0, 2),  # unregistered camera, counted in B
    ("box4", "cam1", B, wib(10, 10, 1), 3, 1, 1),  # closed early at a stop: ends after now
]

# (level, key, period, people, masked, unmasked, windows, compliance)
FIGURES = [
    ("camera", "box1/cam1", "recent", 25, 20, 3, 2, 0.8696),
    ("camera", "box1/cam1", "today", 45, 30, 13, 3, 0.6977),
    ("camera", "box1/cam1", "7d", 85, 60, 18, 4, 0.7692),
    ("camera", "box1/cam2", "recent", 8, 2, 6, 1, None),
    ("camera", "box1/cam2", "7d", 18, 7, 11, 2, None),
    ("camera", "box2/cam1", "recent", 5, 1, 3, 1, None),
    ("camera", "box2/cam1", "today", 35, 28, 6, 2, 0.8235),
    ("camera", "box2/cam1", "7d", 44, 37, 6, 3, 0.8605),
    ("camera", "box2/cam9", "recent", 0, 0, 0, 0, None),
    ("camera", "box4/cam1", "recent", 5, 1, 3, 2, None),
    ("camera", "box4/cam1", "7d", 5, 1, 3, 2, None),
    ("camera", "box3/camX", "7d", 0, 0, 0, 0, None),
    ("kelurahan", A, "recent", 33, 22, 9, 3, 0.7097),
    ("kelurahan", A, "today", 53, 32, 19, 4, 0.6275),
    ("kelurahan", A, "7d", 103, 67, 29, 6, 0.6979),
    ("kelurahan", B, "recent", 10, 2, 6, 3, None),  # below the minimum of 20 people
    ("kelurahan", B, "today", 44, 33, 9, 5, 0.7857),
    ("kelurahan", B, "7d", 53, 42, 9, 6, 0.8235),
    ("kelurahan", C, "7d", 0, 0, 0, 0, None),
    ("kecamatan", K1, "today", 53, 32, 19, 4, 0.6275),
    ("kecamatan", K2, "7d", 53, 42, 9, 6, 0.8235),
    ("city", "", "recent", 43, 24, 15, 6, 0.6154),
    ("city", "", "today", 97, 65, 28, 9, 0.6989),
    ("city", "", "7d", 156, 109, 38, 12, 0.7415),
]

# (level, key, cameras expected, cameras reporting, newest window_end, age_s)
HEALTH = [
    ("camera", "box1/cam1", 1, 1, wib(10, 9, 59), 60.0),
    ("camera", "box1/cam2", 1, 0, wib(10, 9, 50), 600.0),
    ("camera", "box2/cam9", 0, 0, wib(10, 9, 0), 3600.0),
    ("camera", "box4/cam1", 0, 1, wib(10, 10, 1), 0.0),  # ends after now: age 0
    ("camera", "box3/camX", 1, 0, None, None),
    ("kelurahan", A, 3, 1, wib(10, 9, 59), 60.0),
    ("kelurahan", B, 1, 2, wib(10, 10, 1), 0.0),
    ("kelurahan", C, 0, 0, None, None),
    ("kecamatan", K1, 3, 1, wib(10, 9, 59), 60.0),
    ("city", "", 4, 3, wib(10, 10, 1), 0.0),
]


def make_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")
    schema.metadata.create_all(engine)
    return engine


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Engine]:  # fmt: skip
    folder = tmp_path_factory.mktemp("summaries")
    with migrated_engine(request, request.param, folder) as engine:
        rows = [count_row(a, c, k, end, i, p, m, u) for i, (a, c, k, end, p, m, u) in
                enumerate(WINDOWS)]  # fmt: skip
        insert_rows(engine, rows)
        yield engine


@pytest.fixture(scope="module")
def summaries(engine: Engine) -> dict[tuple[str, str], Summary]:
    areas = small_areas()
    out = Summarizer(engine, CFG, areas, registry(areas)).compute(NOW)
    return {(s.level, s.key): s for s in out}


@pytest.mark.parametrize(("level", "key", "period", "people", "masked", "unmasked", "windows",
                          "ratio"), FIGURES)  # fmt: skip
def test_figures(summaries, level, key, period, people, masked, unmasked, windows, ratio):
    got = summaries[(level, key)].payload["periods"][period]
    assert (got["people_seen"], got["masked"], got["unmasked"], got["windows"]) == (
        people, masked, unmasked, windows,
    )  # fmt: skip
    assert got["compliance"] == ratio


@pytest.mark.parametrize(("level", "key", "expected", "reporting", "newest", "age_s"), HEALTH)
def test_cameras_and_freshness(summaries, level, key, expected, reporting, newest, age_s):
    p = summaries[(level, key)].payload
    assert p["cameras"] == {"expected": expected, "reporting": reporting}
    assert p["freshness"]["newest_window_end"] == (newest.isoformat() if newest else None)
    assert p["freshness"]["age_s"] == age_s


def test_payload_envelope(summaries):
    assert len(summaries) == 6 + 3 + 2 + 1  # every registered or reporting camera, every area
    city = summaries[("city", "")].payload
    assert city["schema"] == SUMMARY_SCHEMA
    assert (city["code"], city["name"], city["min_people_for_ratio"]) == ("33.74", "Kota Semarang",
                                                                          20)  # fmt: skip
    assert city["computed_at"] == "2025-06-10T10:00:00+07:00"
    assert city["periods"]["recent"]["from"] == "2025-06-10T09:40:00+07:00"
    assert city["periods"]["today"]["from"] == "2025-06-10T00:00:00+07:00"
    assert city["periods"]["7d"]["from"] == "2025-06-04T00:00:00+07:00"
    kel = summaries[("kelurahan", A)].payload
    assert (kel["name"], kel["kecamatan_code"]) == ("Miroto", K1)
    json.dumps(city)  # serialisable as published


@pytest.mark.parametrize(
    ("key", "kelurahan", "registered", "mismatch", "name"),
    [
        ("box1/cam1", A, True, False, "Pasar"),
        ("box1/cam2", A, True, True, None),  # counts say C, the registry says A: A wins, flagged
        ("box4/cam1", B, False, False, None),  # unregistered: its counts' kelurahan
    ],
)
def test_camera_attribution(summaries, key, kelurahan, registered, mismatch, name):
    p = summaries[("camera", key)].payload
    assert (p["kelurahan_code"], p["registered"], p["kelurahan_mismatch"], p["name"]) == (
        kelurahan, registered, mismatch, name,
    )  # fmt: skip


def test_day_boundary_is_local(tmp_path):
    # 00:10 WIB is 17:10 UTC the day before: a window at 23:55 WIB is recent but not today.
    engine = make_engine(tmp_path / "c.sqlite3")
    insert_rows(engine, [count_row("box1", "cam1", A, wib(9, 23, 55), 1, 30, 20, 10),
                         count_row("box1", "cam1", A, wib(10, 0, 5), 2, 5, 5, 0)])  # fmt: skip
    areas = small_areas()
    out = Summarizer(engine, CFG, areas, registry(areas)).compute(wib(10, 0, 10))
    city = next(s for s in out if s.level == "city").payload["periods"]
    assert (city["recent"]["people_seen"], city["today"]["people_seen"]) == (35, 5)
    assert city["recent"]["compliance"] == 0.7143


def test_closed_buckets_are_cached_and_refreshed(tmp_path):
    now = wib(10, 10, 30)  # closed hours 00-10, current hour 10:00-10:30, 6 closed days
    engine = make_engine(tmp_path / "c.sqlite3")
    insert_rows(engine, [count_row("box1", "cam1", A, wib(10, 9, 0), 1, 5, 5, 0)])
    areas = small_areas()
    clock = [0.0]
    s = Summarizer(engine, CFG, areas, registry(areas), clock=lambda: clock[0])

    def people() -> tuple[int, int]:
        city = next(x for x in s.compute(now) if x.level == "city").payload["periods"]
        return city["today"]["people_seen"], city["7d"]["people_seen"]

    assert people() == (5, 5)
    # A box back from a long offline spell delivers windows of this morning and yesterday.
    insert_rows(engine, [count_row("box1", "cam1", A, wib(10, 3, 0), 2, 3, 3, 0),
                         count_row("box1", "cam1", A, wib(9, 12, 0), 3, 7, 7, 0)])  # fmt: skip
    assert people() == (5, 5)  # closed hours and days come from the cache ...
    clock[0] += HOUR_REFRESH_S
    # ... hours are refreshed 3 per pass, newest first: (02:00, 03:00] comes third.
    assert [people() for _ in range(4)] == [(5, 5), (5, 5), (8, 8), (8, 8)]
    clock[0] += DAY_REFRESH_S
    assert [people() for _ in range(6)][-1] == (8, 15)  # days hourly
    insert_rows(engine, [count_row("box1", "cam1", A, wib(10, 10, 29), 4, 1, 1, 0)])
    assert people() == (9, 16)  # the current hour is always live


def test_published_retained_on_mosquitto(mosquitto, summaries):
    cfg = MqttSection(host=mosquitto.host, port=mosquitto.port)
    pub = SummaryPublisher(cfg, client_id="test-summaries")
    pub.start()
    try:
        assert pub.wait_connected(5)
        batch = list(summaries.values())
        assert pub.publish(batch, wait_s=5) == len(batch)
        # A late subscriber gets every summary from the broker's retained store.
        with Subscriber(mosquitto, ["siaga/v1/summary/#"], client_id="dash") as dash:
            assert dash.wait_for(lambda m: len(m) == len(batch), timeout_s=5)
            got = {m.topic: m for m in dash.snapshot()}
        assert all(m.retain for m in got.values())
        city = json.loads(got["siaga/v1/summary/city"].payload)
        assert city == summaries[("city", "")].payload
        for topic in (f"siaga/v1/summary/kelurahan/{B}", f"siaga/v1/summary/kecamatan/{K1}",
                      "siaga/v1/summary/camera/box1/cam2"):  # fmt: skip
            assert json.loads(got[topic].payload)["schema"] == SUMMARY_SCHEMA
        # A camera no longer summarised has its retained message cleared.
        pub.publish([s for s in batch if s.key != "box4/cam1"], wait_s=5)
        with Subscriber(mosquitto, ["siaga/v1/summary/camera/#"], client_id="dash2") as dash:
            assert dash.wait_for(lambda m: len(m) == 5, timeout_s=5)
            time.sleep(0.2)
            assert "siaga/v1/summary/camera/box4/cam1" not in {m.topic for m in dash.snapshot()}
    finally:
        pub.stop()
