"""`siaga calibrate report`: face sizes, recommended settings and a plain verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.config import JudgingSection
from agent.judge import AMBIGUOUS, DISPUTED, JUDGEABLE, NOT_FACE_SHAPED, TOO_SMALL, suitability_of
from calibration.report import (
    UNRELIABLE_FACE_PX,
    Measurement,
    build_report,
    recommend_fps,
    verdict_for,
)
from siaga.cli import main

CFG = JudgingSection()


def codes_of(**counts: int) -> np.ndarray:
    names = {"ok": JUDGEABLE, "small": TOO_SMALL, "shape": NOT_FACE_SHAPED,
             "ambiguous": AMBIGUOUS, "disputed": DISPUTED}  # fmt: skip
    return np.array([names[k] for k, n in counts.items() for _ in range(n)], dtype=np.int8)


def test_unreliable_size_is_the_agents_judging_limit() -> None:
    assert JudgingSection().min_face_px == UNRELIABLE_FACE_PX


@pytest.mark.parametrize(
    ("counts", "verdict"),
    [
        ({}, "undecided"),
        ({"ok": 29}, "undecided"),  # the agent needs min_faces (30) before it says anything
        ({"ok": 50}, "good"),
        ({"ok": 30, "small": 10}, "good"),  # 25 % lost
        ({"ok": 20, "small": 30}, "marginal"),
        ({"ok": 10, "small": 40}, "suitable-but-marginal"),  # 20 %: the agent's limit
        ({"ok": 9, "small": 41}, "unsuitable"),
        ({"ok": 2, "shape": 40, "small": 8}, "unsuitable"),
    ],
)
def test_verdict(counts: dict[str, int], verdict: str) -> None:
    codes = codes_of(**counts)
    judgement = suitability_of(codes, CFG)
    got, reasons = verdict_for(judgement, codes, CFG)
    assert got == verdict.removeprefix("suitable-but-")
    if got == "unsuitable":
        assert judgement.suitable is False and reasons[0] == judgement.reason
    if got == "undecided":
        assert judgement.suitable is None and "needs 30" in reasons[0]


def test_unsuitable_names_the_agents_reason() -> None:
    codes = codes_of(ok=2, shape=40, small=8)
    _, reasons = verdict_for(suitability_of(codes, CFG), codes, CFG)
    assert reasons[0].startswith("bukan bentuk wajah / not face-shaped: 80%")
    assert "not at bodies" in reasons[1]


@pytest.mark.parametrize(
    ("ms", "source_fps", "fps"),
    [(20.0, 25.0, 5.0), (20.0, 2.0, 2.0), (250.0, 25.0, 2.0), (5000.0, 25.0, 0.5)],
)
def test_recommend_fps(ms: float, source_fps: float, fps: float) -> None:
    assert recommend_fps(ms, source_fps) == fps


def test_build_report_from_widths() -> None:
    widths = np.array([8.0] * 10 + [40.0] * 30)
    m = Measurement(widths, codes_of(small=10, ok=28, disputed=2), inference_ms=20.0)
    r = build_report(Path("clip.mp4"), m, judging=CFG, frame_shape=(720, 1280), fps=25.0,
                     frames=40, model_input=(640, 480))  # fmt: skip
    assert r.faces == 40 and r.share_unreliable == 0.25 and r.verdict == "marginal"
    assert r.judgeable == 28 and r.judgeable_share == 0.7 and r.suitable is True
    assert r.not_judgeable == {"too_small": 10, "not_face_shaped": 0, "ambiguous": 0,
                               "disputed": 2}  # fmt: skip
    assert r.recommended_min_face_px == UNRELIABLE_FACE_PX and r.recommended_max_face_px == 80
    assert r.face_px_p50 == 40.0 and r.judgement_reason is None and r.min_faces == 30


def test_build_report_unsuitable_carries_the_agents_reason() -> None:
    m = Measurement(np.full(40, 9.0), codes_of(small=38, ok=2), inference_ms=20.0)
    r = build_report(Path("wide.mp4"), m, judging=CFG, frame_shape=(360, 480), fps=10.0,
                     frames=40, model_input=(640, 480))  # fmt: skip
    assert r.verdict == "unsuitable" and r.suitable is False
    assert r.judgement_reason == suitability_of(m.codes, CFG).reason == r.reasons[0]
    assert (
        r.judgement_reason is not None and "faces too small: 95% under 16 px" in r.judgement_reason
    )


def report_json(shared: Path, clip: str, frames: int, capsys: pytest.CaptureFixture[str]
                ) -> dict[str, Any]:  # fmt: skip
    argv = ["calibrate", "report", "--video", str(shared / "video" / clip), "--frames", str(frames)]
    assert main([*argv, "--json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"verdict: {report['verdict'].upper()}" in text
    assert f"faces the agent can judge: {report['judgeable']} of {report['faces']}" in text
    return report


def test_report_on_the_wide_campus_clip_is_unsuitable(
    shared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Faces of 4-16 px: the agent reports this camera not suitable, and so must the report.
    report = report_json(shared, "vtest_sda.mp4", 30, capsys)
    assert report["verdict"] == "unsuitable" and report["suitable"] is False
    assert report["faces"] >= 30 and report["judgeable_share"] < 0.2
    reason = report["judgement_reason"]
    assert reason.startswith("wajah terlalu kecil / faces too small") and "under 16 px" in reason
    assert report["reasons"][0] == reason


@pytest.mark.parametrize("clip", ["gituatu_mask.mp4", "916241958_mask.mp4"])
def test_report_on_close_up_clips_is_suitable(
    shared: Path, clip: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report = report_json(shared, clip, 36, capsys)
    assert report["verdict"] in ("good", "marginal") and report["suitable"] is True
    assert report["faces"] >= 30 and report["judgement_reason"] is None


def test_report_on_too_few_faces_is_undecided(
    shared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = report_json(shared, "gituatu_mask.mp4", 6, capsys)
    assert report["verdict"] == "undecided" and report["suitable"] is None


def test_report_missing_video(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "report", "--video", "nope.mp4"]) == 2
    assert "not found" in capsys.readouterr().err
