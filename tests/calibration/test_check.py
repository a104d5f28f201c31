"""`siaga calibrate check`: every bad file gets one clear error naming the file and the key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from calibration.check import run_check
from siaga.cli import main

GOOD = {
    "schema": "siaga.calibration/1",
    "version": "2026-11-27a",
    "camera_id": "cam1",
    "thresholds": {"mask": 0.55, "no_mask": 0.6},
    "min_face_px": 16,
    "max_face_px": 400,
    "include_zones": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]],
    "exclude_zones": [[[0.1, 0.1], [0.2, 0.1], [0.2, 0.2], [0.1, 0.2]]],
    "created_at": "2026-11-27T10:00:00+07:00",
    "notes": "pasar Johar, gate 2",
}
TRIANGLE = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]


def _write(tmp_path: Path, name: str, content: str | dict) -> Path:
    f = tmp_path / name
    f.write_text(content if isinstance(content, str) else json.dumps(content))
    return f


@pytest.mark.parametrize(
    ("name", "content", "camera", "reason"),
    [
        ("bad.json", '{"version": "v1", "camera_id": ', None, "cannot read calibration"),
        ("bad.toml", 'version = "v1"\ncamera_id = cam1\n', None, "cannot read calibration"),
        ("list.json", "[1, 2]", None, "top level must be an object"),
        ("unknown.json", {**GOOD, "colour": "red"}, None, "colour: Extra inputs"),
        ("schema.json", {**GOOD, "schema": "siaga.calibration/2"}, None, "schema: Input should be"),
        ("thr.json", {**GOOD, "thresholds": {"mask": 1.2}}, None,
         "thresholds.mask: .*must be between 0 and 1, got 1.2"),
        ("bool.json", {**GOOD, "thresholds": {"no_mask": True}}, None,
         "thresholds.no_mask: .*not true/false"),
        ("nan.json", '{"version": "v", "camera_id": "cam1", "thresholds": {"mask": NaN}}', None,
         "thresholds.mask: .*not NaN"),
        ("line.json", {**GOOD, "include_zones": [[[0, 0], [0.5, 0.5], [1, 1]]]}, None,
         "include_zones.0: .*no area"),
        ("cls.json", {**GOOD, "thresholds": {"maks": 0.5}}, None, "thresholds.maks"),
        ("poly2.json", {**GOOD, "include_zones": [[[0, 0], [1, 1]]]}, None, "include_zones.0: "),
        ("pt.json", {**GOOD, "exclude_zones": [[*TRIANGLE[:2], [1.5, 0.5]]]}, None,
         "exclude_zones.0.2.0: Input should be less than or equal to 1"),
        ("neg.json", {**GOOD, "include_zones": [[[-0.1, 0], *TRIANGLE[1:]]]}, None,
         "include_zones.0.0.0: Input should be greater than or equal to 0"),
        ("minmax.json", {**GOOD, "min_face_px": 500}, None, "min_face_px \\(500\\) cannot exceed"),
        ("camera.json", GOOD, "cam2", "camera_id is 'cam1', expected 'cam2'"),
        ("noversion.json", {k: v for k, v in GOOD.items() if k != "version"}, None,
         "version: Field required"),
        ("badid.json", {**GOOD, "camera_id": "cam 1/x"}, None, "camera_id"),
        ("date.json", {**GOOD, "created_at": "yesterday"}, None, "created_at"),
        ("missing.json", None, None, "calibration file not found"),
    ],
)  # fmt: skip
def test_bad_files_give_one_clear_error(
    tmp_path: Path, name: str, content: str | dict | None, camera: str | None, reason: str
) -> None:
    f = tmp_path / name if content is None else _write(tmp_path, name, content)
    status, lines = run_check(f, camera)
    assert status == 2 and len(lines) == 1
    assert name in lines[0]
    assert re.search(reason, lines[0]), lines[0]


def test_good_file_in_json_and_toml(tmp_path: Path) -> None:
    status, lines = run_check(_write(tmp_path, "ok.json", GOOD), "cam1")
    assert status == 0 and lines[-1].endswith("ok.json: OK")
    assert "thresholds: mask 0.55, no_mask 0.60" in lines
    toml = 'version = "v2"\ncamera_id = "cam1"\ninclude_zones = [[[0,0],[1,0],[1,1]]]\n'
    status, lines = run_check(_write(tmp_path, "ok.toml", toml), None)
    assert status == 0 and "zones: include 1, exclude config's" in lines


def test_cli_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path, "ok.json", GOOD)
    assert main(["calibrate", "check", str(good), "--camera", "cam1"]) == 0
    assert main(["calibrate", "check", str(good), "--camera", "other"]) == 2
    assert "expected 'other'" in capsys.readouterr().err
