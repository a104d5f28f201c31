"""The wire contract: payload validation and topic helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from siaga.wire import (
    CameraHealth,
    CountsMessage,
    DetectorConfusion,
    counts_subscription,
    counts_topic,
    parse_counts_topic,
    summary_topic,
    window_bounds,
)

WIB = timezone(timedelta(hours=7))
GOOD = {
    "schema": "siaga.counts/1", "agent_id": "box-01", "seq": 41, "camera_id": "gate",
    "site": "Pasar Johar", "kelurahan_code": "33.74.03.1006",
    "window_start": "2026-11-27T10:00:00+07:00", "window_end": "2026-11-27T10:01:00+07:00",
    "people_seen": 12, "masked": 9, "unmasked": 3, "occupancy_mean": 1.5, "occupancy_max": 4,
    "frames_processed": 300, "frames_inferred": 120,
    "model": {"name": "aizoo_facemask_360", "version": "1", "sha256": "a" * 64},
    "calibration_version": None,
}  # fmt: skip


def test_round_trip_keeps_schema_name_and_offsets():
    msg = CountsMessage.model_validate(GOOD)
    data = json.loads(msg.to_payload())
    assert data["schema"] == "siaga.counts/1" and data["seq"] == 41
    assert data["window_start"] == "2026-11-27T10:00:00+07:00"
    assert CountsMessage.model_validate_json(msg.to_payload()) == msg


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"masked": 10}, "cannot exceed people_seen"),
        ({"window_end": "2026-11-27T10:00:00+07:00"}, "window_end must be after"),
        ({"window_start": "2026-11-27T10:00:00"}, "timezone"),
        ({"seq": -1}, "greater than or equal to 0"),
        ({"agent_id": "box/01"}, "should match pattern"),
        ({"camera_id": "+"}, "should match pattern"),
        ({"kelurahan_code": "3374031006"}, "should match pattern"),
        ({"schema": "siaga.counts/2"}, "siaga.counts/1"),
        ({"people_seen": "many"}, "valid integer"),
        ({"frames_inferred": 301}, "frames_inferred cannot exceed"),
        ({"not_judged": 1}, "masked \\+ unmasked \\+ not_judged must equal people_seen"),
        ({"people_seen": 14, "not_judged": 1}, "must equal people_seen"),
        ({"not_judged": -1}, "greater than or equal to 0"),
        ({"extra_field": 1}, "Extra inputs are not permitted"),
        # Times that cannot be true (and near year 1 cannot even be put in UTC) are refused.
        ({"window_start": "0001-01-01T00:00:00+05:00"}, "between the years 2000 and 2099"),
        ({"window_end": "9999-12-31T23:59:59-05:00"}, "between the years 2000 and 2099"),
    ],
)
def test_invalid_payloads_are_rejected_with_a_reason(change: dict, reason: str):
    with pytest.raises(ValidationError, match=reason):
        CountsMessage.model_validate({**GOOD, **change})


def test_judgement_fields_are_optional_and_must_add_up():
    old = CountsMessage.model_validate(GOOD)  # an agent before judgement: all judged
    assert old.not_judged is None and old.suitable is None
    wide = CountsMessage.model_validate(
        {**GOOD, "people_seen": 14, "masked": 0, "unmasked": 0, "not_judged": 14, "suitable": False}
    )
    data = json.loads(wide.to_payload())
    assert data["not_judged"] == 14 and data["suitable"] is False
    assert CountsMessage.model_validate_json(wide.to_payload()) == wide


def test_topics():
    assert counts_topic("box-01", "gate") == "siaga/v1/box-01/gate/counts"
    assert parse_counts_topic("siaga/v1/box-01/gate/counts") == ("box-01", "gate")
    assert parse_counts_topic("other/v1/box-01/gate/counts") is None
    assert parse_counts_topic("siaga/v1/box-01/status") is None
    assert counts_subscription() == "$share/central/siaga/v1/+/+/counts"
    assert counts_subscription(share_group=None) == "siaga/v1/+/+/counts"
    assert summary_topic("city") == "siaga/v1/summary/city"
    assert summary_topic("kelurahan", "33.74.03.1006") == "siaga/v1/summary/kelurahan/33.74.03.1006"


@pytest.mark.parametrize(
    ("t", "window_s", "start"),
    [
        (datetime(2026, 11, 27, 10, 0, 59, 999000, tzinfo=WIB), 60, "10:00:00"),
        (datetime(2026, 11, 27, 10, 1, 0, tzinfo=WIB), 60, "10:01:00"),
        (datetime(2026, 11, 27, 10, 7, 30, tzinfo=WIB), 300, "10:05:00"),
        (datetime(2026, 11, 27, 3, 7, 30, tzinfo=UTC), 900, "03:00:00"),
    ],
)
def test_window_bounds_are_wall_clock_aligned(t: datetime, window_s: int, start: str):
    s, e = window_bounds(t, window_s)
    assert s.strftime("%H:%M:%S") == start and (e - s).total_seconds() == window_s
    assert s.tzinfo == t.tzinfo


def test_status_carries_a_cameras_calibration_and_its_confusion_counts():
    conf = {"mask": {"masked": 40, "unmasked": 3, "missed": 5},
            "no_mask": {"masked": 4, "unmasked": 30}}  # fmt: skip
    health = {"fps": 5.0, "inference_ms": 20.0, "reconnects": 0, "stalls": 0, "connected": True}
    cam = CameraHealth.model_validate(
        {**health, "calibration": {"version": "v3", "confusion": conf}}
    )
    assert cam.calibration is not None and cam.calibration.confusion is not None
    assert cam.calibration.confusion.no_mask.missed == 0  # missed defaults to 0
    assert cam.calibration.confusion.not_a_face.masked == 0  # no false detections labelled
    older = CameraHealth(fps=5.0, inference_ms=20.0, reconnects=0, stalls=0, connected=True)
    assert older.calibration is None  # older agents and uncalibrated cameras send none
    for bad, why in [
        ({**conf, "mask": {"masked": 0, "unmasked": 0}}, "no labelled faces"),
        ({**conf, "mask": {"masked": -1, "unmasked": 0}}, "greater than or equal"),
        ({**conf, "extra": {"masked": 1, "unmasked": 0}}, "Extra inputs"),
    ]:
        with pytest.raises(ValidationError, match=why):
            DetectorConfusion.model_validate(bad)


def test_status_carries_a_cameras_load_and_older_statuses_still_parse():
    """Issue 18's per-camera load: optional, so a status from an agent before it is valid."""
    health = {"fps": 5.0, "inference_ms": 20.0, "reconnects": 0, "stalls": 0, "connected": True}
    cam = CameraHealth.model_validate(
        {**health, "detect_fps": 3.9, "overloaded": True, "decoder": "software (vaapi unavailable)"}
    )
    assert (cam.detect_fps, cam.overloaded) == (3.9, True)
    assert CameraHealth.model_validate_json(cam.model_dump_json()) == cam
    older = CameraHealth.model_validate(health)
    assert (older.detect_fps, older.overloaded, older.decoder) == (None, None, None)
    with pytest.raises(ValidationError, match="greater than or equal"):
        CameraHealth.model_validate({**health, "detect_fps": -1})
