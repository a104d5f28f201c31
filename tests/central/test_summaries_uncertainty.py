"""Summaries carry each compliance figure's interval and, for calibrated cameras, the corrected
figure (issue 16): on SQLite and PostgreSQL, with the calibration read from a stored status."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import Engine

from central.config import SummariesSection
from central.store.writes import Store
from central.summaries import Summarizer, Summary
from siaga.wire import CameraCalibration, CameraHealth, DetectorConfusion, ModelInfo, StatusMessage
from tests.central.summary_fixtures import (
    A,
    B,
    count_row,
    insert_rows,
    migrated_engine,
    registry,
    small_areas,
    wib,
)

NOW = wib(10, 10, 0)
CFG = SummariesSection(recent_min=20, min_people_for_ratio=20, stale_after_s=300)
# 10,000 labels per class: P(called masked, unmasked, missed | masked face) = 0.8, 0.1, 0.1 and
# | unmasked face = 0.2, 0.6, 0.2. A true compliance of 0.5 shows as 0.5/0.85 = 0.588 masked.
CONFUSION = {"mask": {"masked": 8000, "unmasked": 1000, "missed": 1000},
             "no_mask": {"masked": 2000, "unmasked": 6000, "missed": 2000}}  # fmt: skip
WINDOWS = [  # (agent, camera, kelurahan, people, masked, unmasked)
    ("box1", "cam1", A, 1000, 588, 412),  # calibrated
    ("box1", "cam2", A, 100, 90, 10),  # uncalibrated, same kelurahan
    ("box2", "cam1", B, 400, 300, 100),  # uncalibrated
    ("box4", "cam1", B, 12, 7, 3),  # below the minimum of 20 judged (2 not judged)
]


def _status(agent: str, calibrated: dict[str, bool]) -> str:
    conf = DetectorConfusion.model_validate(CONFUSION)
    cams = {
        cam: CameraHealth(fps=5.0, inference_ms=10.0, reconnects=0, stalls=0, connected=True,
                          calibration=CameraCalibration(version="v3", confusion=conf) if cal
                          else None)
        for cam, cal in calibrated.items()
    }  # fmt: skip
    return StatusMessage(agent_id=agent, time=NOW, version="0.1", uptime_s=1.0,
                         model=ModelInfo(name="m", version="1", sha256="0" * 64), cameras=cams,
                         outbox_depth=0, dropped=0).to_payload().decode()  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def summaries(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[dict[tuple[str, str], Summary]]:  # fmt: skip
    folder: Path = tmp_path_factory.mktemp("uncertainty")
    engine: Engine
    with migrated_engine(request, request.param, folder) as engine:
        insert_rows(engine, [count_row(a, c, k, wib(10, 9, 55), i, p, m, u)
                             for i, (a, c, k, p, m, u) in enumerate(WINDOWS)])  # fmt: skip
        store = Store(engine)
        store.set_status(
            "box1", _status("box1", {"cam1": True, "cam2": False}), NOW.astimezone(UTC)
        )
        store.set_status("box2", _status("box2", {"cam1": False}), NOW.astimezone(UTC))
        areas = small_areas()
        out = Summarizer(engine, CFG, areas, registry(areas)).compute(NOW)
        yield {(s.level, s.key): s for s in out}


def _recent(summaries: dict[tuple[str, str], Summary], level: str, key: str) -> dict:
    return summaries[(level, key)].payload["periods"]["recent"]


@pytest.mark.parametrize(
    ("level", "key", "n", "low", "high"),
    [  # Wilson 95 % worked in decimal (tests/central/uncertainty/test_interval.py's formula)
        ("camera", "box1/cam1", 1000, 0.5572, 0.6181),
        ("camera", "box2/cam1", 400, 0.7053, 0.7899),
        ("camera", "box4/cam1", 10, 0.3968, 0.8922),  # no ratio below 20: the width says why
        ("kelurahan", B, 410, 0.7046, 0.7883),
    ],
)
def test_every_figure_has_its_interval(summaries, level, key, n, low, high) -> None:
    got = _recent(summaries, level, key)
    assert got["interval"] == {"method": "wilson", "level": 0.95, "low": low, "high": high, "n": n}


def test_below_the_minimum_the_ratio_is_withheld_and_nobody_judged_has_no_interval(summaries):
    small = _recent(summaries, "camera", "box4/cam1")
    assert small["compliance"] is None and small["interval"]["n"] == 10
    empty = _recent(summaries, "camera", "box3/camX")  # registered, never reported
    assert empty["judged"] == 0 and empty["interval"] is None and empty["corrected"] is None


def test_calibrated_camera_is_corrected_back_to_the_truth(summaries) -> None:
    cam = summaries[("camera", "box1/cam1")].payload
    assert cam["calibration_version"] == "v3"
    got = cam["periods"]["recent"]
    assert got["compliance"] == 0.588  # what the detector says
    c = got["corrected"]
    # By hand: π = (0.2 − 0.588·0.8) / (0.588·(0.9 − 0.8) − 0.8 + 0.2) = 0.4996.
    assert c["compliance"] == pytest.approx(0.4996, abs=0.0002)
    assert c["low"] < 0.4996 < c["high"] < 0.588  # the raw ratio lies outside
    assert c["share"] == 1.0 and c["method"] == "confusion-matrix/simulated"


def test_uncalibrated_cameras_are_marked_and_areas_say_how_much_is_corrected(summaries) -> None:
    raw = summaries[("camera", "box2/cam1")].payload
    assert raw["calibration_version"] is None and raw["periods"]["recent"]["corrected"] is None
    assert _recent(summaries, "kelurahan", B)["corrected"] is None  # nothing calibrated in B
    kel = _recent(summaries, "kelurahan", A)["corrected"]
    assert kel["share"] == pytest.approx(1000 / 1100, abs=1e-4)
    # By hand: 1,000 calls hold 1000 / (0.9·0.4996 + 0.8·0.5004) = 1176.5 people, 587.8 masked;
    # with cam2's 90 of 100 as called: (587.8 + 90) / 1276.5 = 0.531.
    assert kel["compliance"] == pytest.approx(0.531, abs=0.001)
    city = _recent(summaries, "city", "")["corrected"]
    assert city["share"] == pytest.approx(1000 / 1510, abs=1e-4)
    assert city["low"] <= city["compliance"] <= city["high"]
