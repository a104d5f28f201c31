"""`siaga calibrate preview`: the agent's worker, the calibration file, a clip, no broker."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from siaga.cli import main

FULL = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
CONFIG = (
    '[agent]\nid = "box1"\nsite = "Johar"\nkelurahan_code = "33.74.01.1001"\n'
    '[[cameras]]\nid = "gate"\nsource = "synthetic:"\n[counting]\nwindow_s = 10\n'
)


@pytest.mark.parametrize(
    ("calibration", "people"),
    [
        ({"thresholds": {"mask": 0.5, "no_mask": 0.5}, "include_zones": [FULL]}, 1),
        ({"exclude_zones": [FULL]}, 0),  # the whole frame excluded: nobody counts
        ({"min_face_px": 1000, "max_face_px": 2000}, 0),  # every face too small
    ],
)
def test_preview_counts_follow_the_calibration_file(
    shared: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    calibration: dict,
    people: int,
) -> None:
    (tmp_path / "agent.toml").write_text(CONFIG)
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"version": "v1", "camera_id": "gate", **calibration}))
    out = tmp_path / "preview"
    argv = ["calibrate", "preview", "--config", str(tmp_path / "agent.toml"), "--camera", "gate",
            "--calibration", str(cal), "--video", str(shared / "video" / "gituatu_mask.mp4"),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f", {people} people," in text
    strip = cv2.imread(str(out / "gate_preview.jpg"))
    assert strip is not None and strip.shape[0] == 240


def test_preview_rejects_a_calibration_for_another_camera(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "agent.toml").write_text(CONFIG)
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"version": "v1", "camera_id": "other"}))
    video = tmp_path / "clip.avi"
    video.write_bytes(b"")
    argv = ["calibrate", "preview", "--config", str(tmp_path / "agent.toml"), "--camera", "gate",
            "--calibration", str(cal), "--video", str(video)]  # fmt: skip
    assert main(argv) == 2
    assert "expected 'gate'" in capsys.readouterr().err
