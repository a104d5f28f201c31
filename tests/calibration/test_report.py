"""`siaga calibrate report`: face sizes, recommended settings and a plain verdict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from calibration.report import UNRELIABLE_FACE_PX, build_report, recommend_fps, verdict_for
from siaga.cli import main


@pytest.mark.parametrize(
    ("faces", "share", "verdict"),
    [
        (0, None, "unsuitable"),
        (5, 0.0, "unsuitable"),  # too few faces to tell
        (50, 0.0, "good"),
        (50, 0.25, "good"),
        (50, 0.4, "marginal"),
        (50, 0.6, "marginal"),
        (50, 0.9, "unsuitable"),
    ],
)
def test_verdict(faces: int, share: float | None, verdict: str) -> None:
    assert verdict_for(faces, share)[0] == verdict


@pytest.mark.parametrize(
    ("ms", "source_fps", "fps"),
    [(20.0, 25.0, 5.0), (20.0, 2.0, 2.0), (250.0, 25.0, 2.0), (5000.0, 25.0, 0.5)],
)
def test_recommend_fps(ms: float, source_fps: float, fps: float) -> None:
    assert recommend_fps(ms, source_fps) == fps


def test_build_report_from_widths() -> None:
    widths = np.array([8.0] * 10 + [40.0] * 30)
    r = build_report(Path("clip.mp4"), widths, frame_shape=(720, 1280), fps=25.0, frames=40,
                     inference_ms=20.0, model_input=(640, 480))  # fmt: skip
    assert r.faces == 40 and r.share_unreliable == 0.25 and r.verdict == "good"
    assert r.recommended_min_face_px == UNRELIABLE_FACE_PX and r.recommended_max_face_px == 80
    assert r.face_px_p50 == 40.0


@pytest.mark.parametrize(
    ("clip", "verdict"),
    [("vtest_sda.mp4", "unsuitable"), ("gituatu_mask.mp4", "good")],
)
def test_report_on_sample_clips(
    shared: Path, clip: str, verdict: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["calibrate", "report", "--video", str(shared / "video" / clip), "--frames", "12"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == verdict and report["faces"] >= 10
    assert main(argv) == 0
    assert f"verdict: {verdict.upper()}" in capsys.readouterr().out


def test_report_missing_video(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "report", "--video", "nope.mp4"]) == 2
    assert "not found" in capsys.readouterr().err
