"""Threshold fitting: pure, on hand-made labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.calibration_file import load_calibration
from calibration.fit import (
    Label,
    NotEnoughLabels,
    confusion_at,
    evaluate,
    fit_class,
    fit_thresholds,
    score_at,
    wilson_interval,
)
from siaga.cli import main


def ladder(cls: str, pattern: str, *, top: float = 0.99, step: float = 0.01) -> list[Label]:
    """Labels by falling score: 'T' a true `cls`, 'F' not a face, 'O' the other class."""
    other = "no_mask" if cls == "mask" else "mask"
    truth = {"T": cls, "F": "not_a_face", "O": other}
    return [Label(round(top - i * step, 4), cls, truth[c]) for i, c in enumerate(pattern)]


# 10 sure hits, then hits mixed with false positives, then mostly false positives.
PATTERN = "TTTTTTTTTT" + "TFTTTTTTTF" + "TFTFTFFTFF" + "FFFFFFFFFF"


def brute_force(labels: list[Label], cls: str, target: float | None) -> float:
    """The threshold with the best F1 (ties: the lower) among those reaching `target`."""
    cuts = sorted({lab.score for lab in labels if lab.predicted == cls})
    ok = [t for t in cuts if target is None or score_at(labels, cls, t).precision >= target]
    return max(ok, key=lambda t: (round(score_at(labels, cls, t).f1, 12), -t))


@pytest.mark.parametrize("target", [1.0, 0.9, 0.8, 0.5])
def test_precision_mode_takes_the_best_f1_among_thresholds_reaching_the_target(
    target: float,
) -> None:
    labels = ladder("mask", PATTERN)
    fit = fit_class(labels, "mask", target_precision=target)
    assert fit.target_met
    assert fit.precision >= target
    assert fit.threshold == pytest.approx(brute_force(labels, "mask", target))
    assert score_at(labels, "mask", fit.threshold).f1 == pytest.approx(fit.f1)


def test_precision_mode_examples_by_hand() -> None:
    labels = ladder("mask", PATTERN)
    # 1.0: the 11 hits before the first false positive (F1 of 11 of 22 hits).
    assert fit_class(labels, "mask", target_precision=1.0).threshold == pytest.approx(0.89)
    # 0.9: 19 of 21 kept (0.905, F1 0.884) at 0.79 beats 18 of 19 (F1 0.878) at 0.81.
    assert fit_class(labels, "mask", target_precision=0.9).threshold == pytest.approx(0.79)
    # 0.8: 21 of 25 (0.84, F1 0.894) at 0.75, not the deepest 21 of 26 (0.808, F1 0.875).
    assert fit_class(labels, "mask", target_precision=0.8).threshold == pytest.approx(0.75)


def test_precision_mode_lowers_a_strict_default_when_recall_pays() -> None:
    # Every detection down to 0.5 is a hit, then a clean tail: the best F1 at precision ≥ 0.9
    # keeps going below the model default of 0.4 while precision holds.
    labels = ladder("mask", "T" * 60 + "F", top=0.9)  # 0.90 … 0.31, then one F at 0.30
    fit = fit_class(labels, "mask", target_precision=0.9)
    assert fit.threshold == pytest.approx(0.31) and fit.recall == 1.0


def test_precision_mode_unreachable_target_falls_back_and_says_so() -> None:
    labels = ladder("no_mask", "FTFTFTFTFTFTFT")
    fit = fit_class(labels, "no_mask", target_precision=0.9)
    assert not fit.target_met and fit.precision < 0.9
    # It says which precision the labels do allow (over ≥ 10 kept: 5 of 10 at best).
    assert fit.reachable_precision == pytest.approx(max(fit.precision, 0.5))
    assert "NOT reachable" in fit.describe()


def test_f1_mode_takes_the_best_f1() -> None:
    labels = ladder("mask", PATTERN)
    fit = fit_class(labels, "mask", mode="f1")
    assert fit.threshold == pytest.approx(brute_force(labels, "mask", None))
    assert fit.f1 == pytest.approx(max(score_at(labels, "mask", lab.score).f1 for lab in labels))


@pytest.mark.parametrize(
    ("hits", "n", "low", "high"),
    [(9, 10, 0.5958, 0.9821), (45, 50, 0.7864, 0.9565), (0, 5, 0.0, 0.4345)],
)
def test_wilson_interval(hits: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(hits, n)
    assert (lo, hi) == pytest.approx((low, high), abs=1e-3)
    assert lo <= hits / n <= hi


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
    # The confusion at the fitted thresholds travels with the version (issue 16): per ladder,
    # 21 labels score >= 0.79 (19 true, 2 not faces), 19 fall below (3 true, 16 not faces).
    assert cal.confusion is not None
    assert cal.confusion.model_dump() == {
        "mask": {"masked": 19, "unmasked": 0, "missed": 3},
        "no_mask": {"masked": 0, "unmasked": 19, "missed": 3},
        "not_a_face": {"masked": 2, "unmasked": 2, "missed": 32},
    }
    assert "expected precision 0.90 (95% " in capsys.readouterr().out
    f.write_text(f.read_text().splitlines()[0] + "\n")
    assert main([*argv, "--out", str(tmp_path / "x.json")]) == 2
    assert "need 30" in capsys.readouterr().err


def test_confidence_needs_enough_labels() -> None:
    # 20 of 20 right: precision 1.0, but the Wilson 95% low end (0.84) is under 0.9.
    few = fit_class(ladder("mask", "T" * 20 + "F" * 5), "mask", target_precision=0.9)
    assert few.target_met and few.precision == 1.0 and not few.confident
    assert "not with 95% confidence" in few.describe()
    many = fit_class(ladder("mask", "T" * 60 + "F" * 5, step=0.005), "mask", target_precision=0.9)
    assert many.confident and many.precision_interval[0] >= 0.9


@pytest.mark.parametrize(
    ("label", "outcome"),
    [
        (Label(0.9, "mask", "mask"), ("mask", "masked")),
        (Label(0.9, "no_mask", "mask"), ("mask", "unmasked")),  # a masked face called unmasked
        (Label(0.4, "mask", "mask"), ("mask", "missed")),  # below the mask threshold
        (Label(0.6, "no_mask", "no_mask"), ("no_mask", "unmasked")),  # no_mask keeps from 0.6
        (Label(0.6, "mask", "no_mask"), ("no_mask", "missed")),
        (Label(0.7, "mask", "no_mask"), ("no_mask", "masked")),
        (Label(0.95, "no_mask", "not_a_face"), ("not_a_face", "unmasked")),
    ],
)
def test_confusion_counts_each_label_once_by_its_call_at_the_thresholds(
    label: Label, outcome: tuple[str, str]
) -> None:
    # One face of each class far below both thresholds, so both classes have labels.
    base = [Label(0.01, "mask", "mask"), Label(0.01, "no_mask", "no_mask")]
    got = confusion_at([*base, label], {"mask": 0.7, "no_mask": 0.6})
    assert got is not None
    truth, call = outcome
    missed = {"mask": 1, "no_mask": 1, "not_a_face": 0}
    expect = {t: {"masked": 0, "unmasked": 0, "missed": missed[t]} for t in missed}
    expect[truth][call] += 1
    assert got == expect


def test_no_confusion_without_faces_of_both_classes() -> None:
    assert confusion_at([Label(0.9, "mask", "mask")], {"mask": 0.5, "no_mask": 0.5}) is None
