import json
from pathlib import Path

import pytest

from agent.calibration_file import load_calibration
from siaga.settings import ConfigError

GOOD = {"version": "v3", "camera_id": "cam1", "thresholds": {"mask": 0.6, "no_mask": 0.4},
        "min_face_px": 16}  # fmt: skip


def test_calibration_json_and_toml(tmp_path: Path):
    j = tmp_path / "c.json"
    j.write_text(json.dumps(GOOD))
    cal = load_calibration(j, camera_id="cam1")
    assert cal.thresholds == {"mask": 0.6, "no_mask": 0.4} and cal.min_face_px == 16
    t = tmp_path / "c.toml"
    t.write_text('version = "v1"\ncamera_id = "cam1"\n[thresholds]\nmask = 0.7\n')
    assert load_calibration(t, camera_id="cam1").thresholds == {"mask": 0.7}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({**GOOD, "camera_id": "cam2"}, "expected 'cam1'"),
        ({**GOOD, "thresholds": {"mask": 1.5}}, "between 0 and 1"),
        ({**GOOD, "thresholds": {"maks": 0.5}}, "thresholds.maks"),
        ({**GOOD, "extra": 1}, "extra: Extra inputs are not permitted"),
    ],
)
def test_calibration_errors_name_file_and_key(tmp_path: Path, data: dict, reason: str):
    f = tmp_path / "cal.json"
    f.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=reason) as info:
        load_calibration(f, camera_id="cam1")
    assert "cal.json" in str(info.value)
