"""Does threshold fitting help? Fit on half of andrewmvd split_val, score on the other half.

`siaga calibrate evaluate-fit` (or `python -m calibration.evaluate_fit`). For each of N random
halvings of split_val (by image, seeded): the labels a perfect technician would click on one
half (calibration.voc_labels) are fitted (calibration.fit), and the other half is counted the
way the agent counts it (calibration.heldout: the agent's FaceFilter, recall over every face,
found or not) with the fitted thresholds and with the model's fixed default. Both use the same
min face size (default: the suitability report's UNRELIABLE_FACE_PX, which a calibration file
written by `serve` carries), so faces too small to judge are out of both.

Acceptance, per class, over the N splits:
- target reached within tolerance: mean held-out precision ≥ target − tol, with
  tol = 1.96·sqrt(t(1−t)/n̄), the 95% binomial sampling band of a detector whose true precision
  is exactly t when judged on n̄ counted faces (n̄: mean held-out faces counted per split);
- beats the fixed default on F1: the mean paired F1 gain (fitted − default, same half) is > 0.
A class that cannot reach the target on its fit half is reported as such (with the best
precision its labels allow), never passed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from calibration.fit import (
    CLASSES,
    DEFAULT_TARGET_PRECISION,
    MIN_LABELS_PER_CLASS,
    Z95,
    ClassFit,
    Mode,
    NotEnoughLabels,
    fit_thresholds,
)
from calibration.heldout import Counted, Pair, agent_counts
from calibration.report import UNRELIABLE_FACE_PX
from calibration.voc_labels import labels_for
from models.adapters import Adapter
from models.evaluate import find_image
from models.voc import parse_voc, read_split

# The lowest score a technician is shown: thresholds below it cannot be fitted.
LABEL_FLOOR = 0.1


def detect_split(detector: Adapter, root: Path, split: str) -> list[Pair]:
    """Detections at the labelling floor and ground truth for every image of a split."""
    pairs = []
    for stem in read_split(root / f"split_{split}.txt"):
        truth = parse_voc(root / "annotations" / f"{stem}.xml")
        path = find_image(root / "images", truth, stem)
        image = None if path is None else cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"image for {stem} missing under {root / 'images'}")
        pairs.append((detector.detect(image, conf=LABEL_FLOOR), truth))
    return pairs


@dataclass(frozen=True)
class SplitOutcome:
    """One split: what was fitted on one half and how both settings count the other."""

    fit: dict[str, ClassFit]
    fitted: dict[str, Counted]
    default: dict[str, Counted]


def run_split(
    fit_pairs: list[Pair],
    held_pairs: list[Pair],
    *,
    default_threshold: float,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    mode: Mode = "precision",
    min_face_px: float = UNRELIABLE_FACE_PX,
    min_per_class: int = MIN_LABELS_PER_CLASS,
) -> SplitOutcome:
    """Fit on one set of images' labels, count the other with fitted and default thresholds."""
    fit = fit_thresholds(
        labels_for(fit_pairs, min_face_px=min_face_px),
        mode=mode,
        target_precision=target_precision,
        min_per_class=min_per_class,
    )
    fitted = {c: f.threshold for c, f in fit.items()}
    default = dict.fromkeys(CLASSES, default_threshold)
    return SplitOutcome(
        fit=fit,
        fitted=agent_counts(held_pairs, fitted, min_face_px=min_face_px),
        default=agent_counts(held_pairs, default, min_face_px=min_face_px),
    )


def random_halves(n: int, splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`splits` random (fit, held-out) halvings of range(n), reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(splits):
        order = rng.permutation(n)
        out.append((np.sort(order[: n // 2]), np.sort(order[n // 2 :])))
    return out


def _ms(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(a.mean()), 4), "sd": round(float(a.std()), 4)}


@dataclass
class Summary:
    """Mean ± SD over the splits, per class, and the acceptance verdicts."""

    target_precision: float
    mode: str
    min_face_px: float
    default_threshold: float
    splits: int
    skipped: int
    classes: dict[str, dict[str, object]] = field(default_factory=dict)


def summarise(
    outcomes: list[SplitOutcome],
    *,
    target_precision: float,
    mode: str,
    min_face_px: float,
    default_threshold: float,
    skipped: int = 0,
) -> Summary:
    """Aggregate split outcomes into the figures and verdicts."""
    s = Summary(target_precision, mode, min_face_px, default_threshold, len(outcomes), skipped)
    t = target_precision
    for c in CLASSES:
        fit = [o.fit[c] for o in outcomes]
        fitted = [o.fitted[c] for o in outcomes]
        default = [o.default[c] for o in outcomes]
        mean_kept = float(np.mean([f.kept for f in fitted]))
        tol = Z95 * math.sqrt(t * (1 - t) / max(mean_kept, 1.0))
        gain = [a.f1 - b.f1 for a, b in zip(fitted, default, strict=True)]
        in_band = [a.precision >= t - Z95 * math.sqrt(t * (1 - t) / max(a.kept, 1)) for a in fitted]
        mean_p = float(np.mean([a.precision for a in fitted]))
        s.classes[c] = {
            "threshold": _ms([f.threshold for f in fit]),
            "fit_labels": _ms([f.labels_used for f in fit]),
            "fit_positives": _ms([f.positives for f in fit]),
            "fit_target_met_share": round(float(np.mean([f.target_met for f in fit])), 4),
            "fit_confident_share": round(float(np.mean([f.confident for f in fit])), 4),
            "fit_reachable_precision": _ms([f.reachable_precision for f in fit]),
            "heldout_faces": _ms([a.truth for a in fitted]),
            "fitted": {
                k: _ms([getattr(a, k) for a in fitted]) for k in ("precision", "recall", "f1")
            }
            | {"kept": _ms([a.kept for a in fitted])},
            "default": {
                k: _ms([getattr(a, k) for a in default]) for k in ("precision", "recall", "f1")
            }
            | {"kept": _ms([a.kept for a in default])},
            "f1_gain": _ms(gain),
            "f1_win_share": round(float(np.mean([g > 0 for g in gain])), 4),
            "precision_tolerance": round(tol, 4),
            "splits_in_precision_band": round(float(np.mean(in_band)), 4),
            "target_reached": bool(mean_p >= t - tol),
            "beats_default_f1": bool(np.mean(gain) > 0),
        }
    return s


def evaluate_splits(
    pairs: list[Pair],
    *,
    splits: int,
    seed: int,
    default_threshold: float,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    mode: Mode = "precision",
    min_face_px: float = UNRELIABLE_FACE_PX,
    min_per_class: int = MIN_LABELS_PER_CLASS,
) -> tuple[Summary, list[SplitOutcome]]:
    """Run every random halving; a split whose fit half has too few labels is skipped."""
    outcomes, skipped = [], 0
    for fit_idx, held_idx in random_halves(len(pairs), splits, seed):
        try:
            outcomes.append(
                run_split(
                    [pairs[i] for i in fit_idx],
                    [pairs[i] for i in held_idx],
                    default_threshold=default_threshold,
                    target_precision=target_precision,
                    mode=mode,
                    min_face_px=min_face_px,
                    min_per_class=min_per_class,
                )
            )
        except NotEnoughLabels:
            skipped += 1
    if not outcomes:
        raise NotEnoughLabels(f"every one of the {splits} splits had too few labels to fit")
    summary = summarise(
        outcomes, target_precision=target_precision, mode=mode, min_face_px=min_face_px,
        default_threshold=default_threshold, skipped=skipped,
    )  # fmt: skip
    return summary, outcomes


def _pm(d: object) -> str:
    assert isinstance(d, dict)
    return f"{d['mean']:.3f}±{d['sd']:.3f}"


def table(s: Summary) -> list[str]:
    """The printed figures: per class, default vs fitted on the held-out halves."""
    lines = [
        f"{s.splits} random halvings of split_val ({s.skipped} skipped), mode {s.mode}, "
        f"target precision {s.target_precision:.2f}, min face {s.min_face_px:g} px; "
        f"held-out half, mean±SD over splits",
        f"{'class':8} {'setting':9} {'threshold':>12} {'precision':>12} {'recall':>12} "
        f"{'F1':>12} {'counted':>8}",
    ]
    for c in CLASSES:
        k = s.classes[c]
        for name, thr, sc in (
            ("default", f"{s.default_threshold:.2f}", k["default"]),
            ("fitted", _pm(k["threshold"]), k["fitted"]),
        ):
            assert isinstance(sc, dict)
            lines.append(
                f"{c:8} {name:9} {thr:>12} {_pm(sc['precision']):>12} {_pm(sc['recall']):>12} "
                f"{_pm(sc['f1']):>12} {sc['kept']['mean']:8.1f}"
            )
    for c in CLASSES:
        k = s.classes[c]
        lab, pos, faces = k["fit_labels"], k["fit_positives"], k["heldout_faces"]
        assert isinstance(lab, dict) and isinstance(pos, dict) and isinstance(faces, dict)
        reach = "" if k["target_reached"] else " NOT"
        beat = "beats" if k["beats_default_f1"] else "does NOT beat"
        lines.append(
            f"{c}: fitted on {lab['mean']:.0f} labels ({pos['mean']:.0f} {c}) per half, "
            f"held-out {faces['mean']:.0f} {c} faces; target{reach} reached "
            f"(tolerance {k['precision_tolerance']:.3f}, {k['splits_in_precision_band']:.0%} of "
            f"splits in band; fit half met it in {k['fit_target_met_share']:.0%}, with 95% "
            f"confidence in {k['fit_confident_share']:.0%}); {beat} the default on F1 "
            f"(gain {_pm(k['f1_gain'])}, better in {k['f1_win_share']:.0%} of splits)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """`python -m calibration.evaluate_fit …` is `siaga calibrate evaluate-fit …`: one parser,
    the command line's (calibration/cli.py keeps the options, so that `siaga` starts light)."""
    from siaga.cli import main as siaga_main

    return siaga_main(["calibrate", "evaluate-fit", *(sys.argv[1:] if argv is None else argv)])


def run(args: argparse.Namespace) -> int:
    """Detect split_val once, run the halvings, print the table; 2 when data is missing."""
    from models.detector import load_detector
    from models.train.data import shared_root

    if args.splits < 1 or not 0.0 < args.target <= 1.0:
        print("evaluate-fit: --splits must be ≥ 1 and --target in (0, 1]", file=sys.stderr)
        return 2
    root = shared_root() / "data" / "andrewmvd"
    if not (root / "split_val.txt").is_file():
        print(f"andrewmvd data set not found under {root} (set SIAGA_SHARED)", file=sys.stderr)
        return 2
    from models.detector import DEFAULT_MODEL

    detector = load_detector(args.model or DEFAULT_MODEL)
    if args.min_face_px is None:
        args.min_face_px = float(UNRELIABLE_FACE_PX)
    pairs = detect_split(detector, root, "val")
    print(f"split_val: {len(pairs)} images, detected at floor {LABEL_FLOOR}", file=sys.stderr)
    try:
        summary, _ = evaluate_splits(
            pairs, splits=args.splits, seed=args.seed, mode=args.mode,
            default_threshold=detector.spec.conf_threshold, target_precision=args.target,
            min_face_px=args.min_face_px,
        )  # fmt: skip
    except NotEnoughLabels as exc:
        print(f"evaluate-fit: {exc}", file=sys.stderr)
        return 2
    print("\n".join(table(summary)))
    out: dict[str, object] = {"split_val_halves": summary.__dict__}
    if args.test:
        # A second, independent look: fit on all of split_val, count split_test.
        o = run_split(
            pairs, detect_split(detector, root, "test"), mode=args.mode,
            default_threshold=detector.spec.conf_threshold, target_precision=args.target,
            min_face_px=args.min_face_px,
        )  # fmt: skip
        print("\n".join(confirm_lines(o, detector.spec.conf_threshold)))
        out["split_val_to_test"] = {
            c: {"fit": o.fit[c].as_dict(), "fitted": o.fitted[c].as_dict(),
                "default": o.default[c].as_dict()}
            for c in CLASSES
        }  # fmt: skip
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


def confirm_lines(o: SplitOutcome, default_threshold: float) -> list[str]:
    """The split_val -> split_test figures, one line per class and setting."""
    lines = ["fit on all of split_val, counted on split_test:"]
    for c in CLASSES:
        for name, thr, k in (
            ("default", default_threshold, o.default[c]),
            ("fitted", o.fit[c].threshold, o.fitted[c]),
        ):
            lines.append(
                f"{c:8} {name:9} {thr:12.3f} {k.precision:12.3f} {k.recall:12.3f} {k.f1:12.3f} "
                f"{k.kept:8d}  ({k.truth} {c} faces)"
            )
    return lines


if __name__ == "__main__":
    sys.exit(main())
