"""Threshold fitting: pure, on hand-made labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.calibration_file import load_calibration
from calibration.fit import (
    Label,
    NotEnoughLabels,
    evaluate,
    f1_standard_error,
    fit_class,
    fit_thresholds,
    score_at,
)
from siaga.cli import main


def ladder(cls: str, pattern: str, *, top: float = 0.99, step: float = 0.01) -> list[Label]:
    """Labels by falling score: 'T' a true `cls`, 'F' not a face, 'O' the other class."""
    other = "no_mask" if cls == "mask" else "mask"
    truth = {"T": cls, "F": "not_a_face", "O": other}
    return [Label(round(top - i * step, 4), cls, truth[c]) for i, c in enumerate(pattern)]


# 10 sure hits, then hits mixed with false positives, then mostly false positives.
PATTERN = "TTTTTTTTTT" + "TFTTTTTTTF" + "TFTFTFFTFF" + "FFFFFFFFFF"


@pytest.mark.parametrize(
    ("target", "threshold", "met"),
    [
        (1.0, 0.89, True),  # the 11 hits before the first false positive
        (0.9, 0.79, True),  # 19 hits of 21 kept = 0.905; one lower is 19 of 22
        (0.8, 0.74, True),  # 21 of 26 = 0.808
        (0.5, 0.60, True),  # everything: 22 of 40 = 0.55
    ],
)
def test_precision_mode_picks_the_deepest_cut_meeting_the_target(
    target: float, threshold: float, met: bool
) -> None:
    labels = ladder("mask", PATTERN)
    fit = fit_class(labels, "mask", target_precision=target)
    assert fit.target_met is met
    assert fit.precision >= target
    assert fit.threshold == pytest.approx(threshold)
    # Nothing lower would also meet the target.
    lower = [lab.score for lab in labels if lab.score < fit.threshold]
    assert all(score_at(labels, "mask", s).precision < target for s in lower)


def test_precision_mode_unreachable_target_falls_back_and_says_so() -> None:
    labels = ladder("no_mask", "FTFTFTFT")
    fit = fit_class(labels, "no_mask", target_precision=0.9)
    assert not fit.target_met and fit.precision < 0.9


def test_f1_mode_takes_deepest_cut_within_one_standard_error() -> None:
    labels = ladder("mask", PATTERN)
    fit = fit_class(labels, "mask", mode="f1")
    best = max(score_at(labels, "mask", lab.score).f1 for lab in labels)
    assert fit.f1 >= best - f1_standard_error(best, fit.positives)
    assert fit.threshold < 0.9  # it does not stop at the sure hits alone


def test_recall_counts_faces_the_model_called_the_other_class() -> None:
    labels = ladder("mask", "TTTT") + ladder("no_mask", "OO", top=0.5)
    # The two no_mask detections were really masked faces: mask recall is 4 of 6.
    assert score_at(labels, "mask", 0.1).recall == pytest.approx(4 / 6)
    assert score_at(labels, "mask", 0.1, total=8).recall == pytest.approx(0.5)


def test_too_few_labels_says_how_many_more() -> None:
    labels = ladder("mask", "T" * 40) + ladder("no_mask", "T" * 12)
    with pytest.raises(NotEnoughLabels, match=r"no_mask: 12 labelled, need 30 \(18 more\)"):
        fit_thresholds(labels)
    fits = fit_thresholds(labels, min_per_class=10)
    assert set(fits) == {"mask", "no_mask"} and fits["no_mask"].labels_used == 12


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"score": 0.5, "predicted": "face", "truth": "mask"}, "predicted"),
        ({"score": 0.5, "predicted": "mask", "truth": "maybe"}, "truth"),
    ],
)
def test_label_rejects_unknown_classes(kwargs: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Label(**kwargs)


def test_evaluate_scores_both_classes() -> None:
    labels = ladder("mask", "TTF") + ladder("no_mask", "TF")
    s = evaluate(labels, {"mask": 0.5, "no_mask": 0.985})
    assert s["mask"].precision == pytest.approx(2 / 3) and s["no_mask"].precision == 1.0


def test_fit_command_writes_a_file_the_agent_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = ladder("mask", PATTERN) + ladder("no_mask", PATTERN)
    f = tmp_path / "labels.jsonl"
    f.write_text("\n".join(json.dumps(lab.__dict__) for lab in labels) + "\n")
    out = tmp_path / "cam1.json"
    argv = ["calibrate", "fit", "--labels", str(f), "--camera", "cam1", "--version", "v7"]
    assert main([*argv, "--out", str(out)]) == 0
    cal = load_calibration(out, camera_id="cam1")
    assert cal.version == "v7" and cal.thresholds == {"mask": 0.79, "no_mask": 0.79}
    assert "expected precision 0.90" in capsys.readouterr().out
    f.write_text(f.read_text().splitlines()[0] + "\n")
    assert main([*argv, "--out", str(tmp_path / "x.json")]) == 2
    assert "need 30" in capsys.readouterr().err
