"""Does threshold fitting help? Fit on half of andrewmvd split_val, score on the other half.

Labels are what a perfect technician would click (calibration.voc_labels). The held-out
half's recall is over all its ground-truth faces, found or not. Compares the fitted thresholds
with the model's fixed default threshold on the same half.

    python -m calibration.evaluate_fit [--target 0.9] [--model siaga_facemask_v1] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2

from calibration.fit import (
    CLASSES,
    DEFAULT_TARGET_PRECISION,
    ClassFit,
    Mode,
    Scores,
    evaluate,
    f1_of,
    fit_thresholds,
)
from calibration.voc_labels import labels_for, truth_totals
from models.adapters import Adapter
from models.detections import Detections
from models.detector import DEFAULT_MODEL, load_detector
from models.evaluate import find_image
from models.train.data import shared_root
from models.voc import GroundTruth, parse_voc, read_split

# The lowest score a technician is shown: thresholds below it cannot be fitted.
LABEL_FLOOR = 0.1


@dataclass(frozen=True)
class FitOutcome:
    """Fitted thresholds and held-out figures for fitted vs default thresholds."""

    target_precision: float
    mode: str
    default_threshold: float
    fit: dict[str, ClassFit]
    fitted_heldout: dict[str, Scores]
    default_heldout: dict[str, Scores]
    fit_images: int
    heldout_images: int

    def macro_f1(self, which: dict[str, Scores]) -> float:
        """Mean F1 over mask and no_mask."""
        return sum(which[c].f1 for c in CLASSES) / len(CLASSES)

    def micro_f1(self, which: dict[str, Scores], totals: dict[str, int]) -> float:
        """F1 over both classes pooled (TP = precision × kept)."""
        tp = sum(which[c].precision * which[c].kept for c in CLASSES)
        kept = sum(which[c].kept for c in CLASSES)
        p = tp / kept if kept else 1.0
        r = tp / max(sum(totals.values()), 1)
        return f1_of(p, r)


def detect_split(detector: Adapter, root: Path, split: str) -> list[tuple[Detections, GroundTruth]]:
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


def run_fit(
    fit_pairs: list[tuple[Detections, GroundTruth]],
    held_pairs: list[tuple[Detections, GroundTruth]],
    *,
    default_threshold: float,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    mode: Mode = "precision",
) -> FitOutcome:
    """Fit on one set of images' labels, score fitted and default thresholds on the other."""
    fit = fit_thresholds(labels_for(fit_pairs), mode=mode, target_precision=target_precision)
    held_labels = labels_for(held_pairs)
    totals = truth_totals(t for _, t in held_pairs)
    fitted = {c: f.threshold for c, f in fit.items()}
    default = dict.fromkeys(CLASSES, default_threshold)
    return FitOutcome(
        target_precision=target_precision,
        mode=mode,
        default_threshold=default_threshold,
        fit=fit,
        fitted_heldout=evaluate(held_labels, fitted, totals=totals),
        default_heldout=evaluate(held_labels, default, totals=totals),
        fit_images=len(fit_pairs),
        heldout_images=len(held_pairs),
    )


def halves(
    pairs: list[tuple[Detections, GroundTruth]],
) -> tuple[list[tuple[Detections, GroundTruth]], list[tuple[Detections, GroundTruth]]]:
    """Even-indexed images to fit on, odd-indexed ones held out (split order, deterministic)."""
    return pairs[0::2], pairs[1::2]


def table(o: FitOutcome) -> list[str]:
    """The printed figures."""
    lines = [
        f"fit on {o.fit_images} images, scored on {o.heldout_images} held-out images; "
        f"mode {o.mode}, target precision {o.target_precision:.2f}",
        f"{'class':8} {'setting':18} {'thr':>5} {'prec':>6} {'recall':>6} {'F1':>6} {'labels':>6}",
    ]
    for c in CLASSES:
        f = o.fit[c]
        for name, thr, s in (
            ("fitted (held-out)", f.threshold, o.fitted_heldout[c]),
            ("default (held-out)", o.default_threshold, o.default_heldout[c]),
        ):
            lines.append(
                f"{c:8} {name:18} {thr:5.2f} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} "
                f"{f.labels_used:6d}"
            )
    lines.append(
        f"macro F1 held-out: fitted {o.macro_f1(o.fitted_heldout):.3f}, "
        f"default {o.macro_f1(o.default_heldout):.3f}"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the experiment and print (optionally write) its figures."""
    p = argparse.ArgumentParser(prog="python -m calibration.evaluate_fit", description=__doc__)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--target", type=float, default=DEFAULT_TARGET_PRECISION)
    p.add_argument("--mode", choices=("precision", "f1"), default="precision")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    root = shared_root() / "data" / "andrewmvd"
    if not (root / "split_val.txt").is_file():
        print(f"andrewmvd data set not found under {root} (set SIAGA_SHARED)", file=sys.stderr)
        return 2
    detector = load_detector(args.model)
    val = detect_split(detector, root, "val")
    a, b = halves(val)
    # The acceptance figure is the first; the swapped halves and val -> test show the spread.
    experiments = {
        "split_val even -> odd": (a, b),
        "split_val odd -> even": (b, a),
        "split_val -> split_test": (val, detect_split(detector, root, "test")),
    }
    out: dict[str, object] = {}
    for name, (fit_on, held) in experiments.items():
        outcome = run_fit(
            fit_on,
            held,
            default_threshold=detector.spec.conf_threshold,
            target_precision=args.target,
            mode=args.mode,
        )
        print(f"== {name}")
        print("\n".join(table(outcome)))
        out[name] = asdict(outcome)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
