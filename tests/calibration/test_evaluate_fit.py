"""Acceptance: thresholds fitted on half of andrewmvd split_val, counted on the other half.

The held-out figures are recomputed here with a plain loop (no shared code with
calibration.heldout) from the detections, the fitted thresholds and the annotations.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from calibration.evaluate_fit import detect_split, evaluate_splits, random_halves, run_split
from calibration.fit import CLASSES, score_at
from calibration.heldout import agent_counts
from calibration.report import UNRELIABLE_FACE_PX
from calibration.voc_labels import labels_for, truth_totals
from models.detections import LABEL_NAMES
from models.detector import load_detector
from siaga.cli import main

MIN_PX = float(UNRELIABLE_FACE_PX)


@pytest.fixture(scope="module")
def val_pairs(andrewmvd: Path) -> list:
    return detect_split(load_detector(), andrewmvd, "val")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _side(b: np.ndarray) -> float:
    return float(max(b[2] - b[0], b[3] - b[1]))


def count_by_hand(pairs: list, thresholds: dict[str, float], min_px: float) -> dict:
    """kept / right / real per class, the slow obvious way."""
    out = {c: {"kept": 0, "right": 0, "truth": 0} for c in CLASSES}
    for dets, t in pairs:
        skip = [bool(t.ignore[j]) or _side(t.boxes[j]) < min_px for j in range(len(t.boxes))]
        for ci, c in enumerate(LABEL_NAMES):
            out[c]["truth"] += sum(
                1 for j in range(len(t.boxes)) if t.labels[j] == ci and not skip[j]
            )
            rows = [
                k for k in range(len(dets))
                if dets.labels[k] == ci and dets.scores[k] >= thresholds[c]
                and _side(dets.boxes[k]) >= min_px
            ]  # fmt: skip
            rows.sort(key=lambda k: -float(dets.scores[k]))
            taken: set[int] = set()
            for k in rows:
                ious = [_iou(dets.boxes[k], t.boxes[j]) for j in range(len(t.boxes))]
                j = int(np.argmax(ious)) if ious else -1
                if j >= 0 and ious[j] >= 0.5 and skip[j]:
                    continue  # on a face that does not count: not judged
                out[c]["kept"] += 1
                if j >= 0 and ious[j] >= 0.5 and t.labels[j] == ci and j not in taken:
                    taken.add(j)
                    out[c]["right"] += 1
    return out


def test_held_out_figures_are_what_the_agent_would_count(val_pairs: list) -> None:
    for fit_idx, held_idx in random_halves(len(val_pairs), 3, seed=7):
        fit_on = [val_pairs[i] for i in fit_idx]
        held = [val_pairs[i] for i in held_idx]
        o = run_split(fit_on, held, default_threshold=0.4, min_face_px=MIN_PX)
        fitted = {c: o.fit[c].threshold for c in CLASSES}
        for setting, thr in ((o.fitted, fitted), (o.default, dict.fromkeys(CLASSES, 0.4))):
            hand = count_by_hand(held, thr, MIN_PX)
            for c in CLASSES:
                got = setting[c]
                assert (got.kept, got.right, got.truth) == tuple(hand[c].values()), c
                assert got.truth > 0 and got.kept > 0
        # The fitted threshold is the fit half's: its labels show the precision it claims.
        fit_labels = labels_for(fit_on, min_face_px=MIN_PX)
        for c in CLASSES:
            s = score_at(fit_labels, c, o.fit[c].threshold)
            assert s.precision == pytest.approx(o.fit[c].precision)
            assert o.fit[c].target_met == (s.precision >= 0.9)


def test_technician_labels_score_exactly_what_the_agent_counts(val_pairs: list) -> None:
    # The fit optimises precision/recall over labels; the agent counts with its filter.
    # On the same images and thresholds both must agree, or the fit optimises the wrong thing.
    labels = labels_for(val_pairs, min_face_px=MIN_PX)
    totals = truth_totals((t for _, t in val_pairs), min_face_px=MIN_PX)
    for thr in (0.2, 0.4, 0.75, 0.95):
        counted = agent_counts(val_pairs, dict.fromkeys(CLASSES, thr), min_face_px=MIN_PX)
        for c in CLASSES:
            s = score_at(labels, c, thr, total=totals[c])
            assert (s.kept, s.precision, s.recall) == pytest.approx(
                (counted[c].kept, counted[c].precision, counted[c].recall)
            ), (c, thr)


def test_fitted_thresholds_reach_the_target_and_beat_the_default(val_pairs: list) -> None:
    summary, outcomes = evaluate_splits(
        val_pairs, splits=50, seed=0, default_threshold=0.4, target_precision=0.9
    )
    assert summary.splits == len(outcomes) == 50
    for c in CLASSES:
        k = summary.classes[c]
        mean_p = k["fitted"]["precision"]["mean"]  # type: ignore[index]
        assert k["target_reached"] and mean_p >= 0.9 - k["precision_tolerance"], c  # type: ignore[operator]
        assert k["beats_default_f1"] and k["f1_gain"]["mean"] > 0, c  # type: ignore[index]
        # The verdicts are the outcomes' own means, not a separate figure.
        gains = [o.fitted[c].f1 - o.default[c].f1 for o in outcomes]
        assert k["f1_gain"]["mean"] == pytest.approx(np.mean(gains), abs=1e-4)  # type: ignore[index]


def test_evaluate_fit_command(
    andrewmvd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fit.json"
    argv = ["calibrate", "evaluate-fit", "--splits", "3", "--no-test", "--json", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "3 random halvings of split_val" in printed and "no_mask  fitted" in printed
    data = json.loads(out.read_text())
    assert data["split_val_halves"]["splits"] == 3
    assert set(data["split_val_halves"]["classes"]) == set(CLASSES)


def test_evaluate_fit_without_data_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIAGA_SHARED", str(tmp_path))
    assert main(["calibrate", "evaluate-fit", "--splits", "2"]) == 2
    assert "andrewmvd data set not found" in capsys.readouterr().err
