"""The daily report's compliance figures carry their interval and, for calibrated cameras, the
corrected compliance (issue 16), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from central.report.build import build_report
from central.store.writes import Store
from central.uncertainty.columns import COLUMNS
from siaga.wire import CameraCalibration, CameraHealth, DetectorConfusion, ModelInfo, StatusMessage
from tests.central.report.test_report import CITY, DAY, KA, KB, WIB, seed

# P(masked, unmasked, missed | masked face) 0.8 / 0.1 / 0.1, | unmasked face 0.2 / 0.6 / 0.2.
CONFUSION = {"mask": {"masked": 8000, "unmasked": 1000, "missed": 1000},
             "no_mask": {"masked": 2000, "unmasked": 6000, "missed": 2000}}  # fmt: skip


def _calibrate(engine: Engine) -> None:
    """Agent a1 reports camera c1 (every count of the seed) as calibrated."""
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
    msg = StatusMessage(agent_id="a1", time=now, version="0.1", uptime_s=1.0,
                        model=ModelInfo(name="m", version="1", sha256="0" * 64),
                        cameras={"c1": cam}, outbox_depth=0, dropped=0)  # fmt: skip
    Store(engine).set_status("a1", msg.to_payload().decode(), now)


def _cols(engine: Engine, code: str) -> dict[str, object]:
    r = build_report(engine, DAY, WIB, late_after_h=36, min_people_for_ratio=20)
    return {k: r.get(code, k).value for k in COLUMNS}


@pytest.mark.parametrize(
    ("code", "low", "high"),
    [  # Wilson 95 %, worked in decimal: 29 of 40, 24 of 30, 5 of 10
        (CITY, 0.5717, 0.8389),
        (KA, 0.6269, 0.9049),
        (KB, 0.2366, 0.7634),  # the ratio itself is empty (10 < 20 judged), the interval says why
    ],
)
def test_interval_columns_without_calibration(engine: Engine, code: str, low: float, high: float
                                              ) -> None:  # fmt: skip
    seed(engine)
    got = _cols(engine, code)
    assert (got["compliance_low"], got["compliance_high"]) == (low, high)
    assert {k: got[k] for k in COLUMNS[2:]} == dict.fromkeys(COLUMNS[2:])  # nothing calibrated


def test_corrected_columns_with_a_calibrated_camera(engine: Engine) -> None:
    seed(engine)
    _calibrate(engine)
    ka = _cols(engine, KA)
    # By hand: φ = 0.8 → π = (0.2 − 0.8·0.8) / (0.8·0.1 − 0.6) = 0.846 (24 of 30 called masked).
    assert ka["compliance_corrected"] == pytest.approx(0.8462, abs=0.0002)
    assert ka["corrected_share"] == 1.0
    assert ka["compliance_corrected_low"] < 0.8462 < ka["compliance_corrected_high"]  # type: ignore[operator]
    kb = _cols(engine, KB)
    assert kb["compliance_corrected"] is None  # 10 judged: below the minimum, like the ratio
    assert kb["corrected_share"] == 1.0 and kb["compliance_corrected_low"] is not None
