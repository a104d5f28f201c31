"""Does the detector-error correction bring compliance nearer the truth? andrewmvd, our model.

The shipped model runs over `../shared/data/andrewmvd` split_val and split_test at the
labelling floor (calibration.evaluate_fit.detect_split). At the operating thresholds (the model's
default for both classes, faces under the agent's min_face_px left out, as the agent does):

- the confusion is fitted on split_val as a technician would fit it: each kept detection labelled
  with the face under it (calibration.voc_labels), counted by calibration.fit.confusion_at; two
  variants: `labels` (what calibration in the field knows: faces the model never found at the
  floor are unknown) and `labels+truth` (those faces added as missed from the ground truth);
- on split_test, the counts the agent would make (calibration.heldout.agent_counts: kept boxes
  per class, boxes on ignored faces left out) give the uncorrected compliance masked / judged with
  its Wilson interval, and the corrected one (central/uncertainty/correction.py) with its
  interval, against split_test's ground-truth compliance over the faces that count.

The ratio printed: |corrected − truth| / |uncorrected − truth| (below 1: the correction helps),
both measured in the same run. Pooled over the split as one "camera", as a city would pool it.

    python -m benchmarks.compliance_correction [--out out/bench] [--min-face-px 16]

Measured (siaga_facemask_v1, thresholds 0.4, CPU, 18 s): at min_face_px 16, split_test's truth
0.802 (291 masked, 72 unmasked faces); uncorrected 0.763 (95 % 0.718–0.802, 296 / 92 counted);
corrected with split_val's labels 0.809 (0.742–0.863; confusion from 329 labels), error ratio
0.18; with the faces never found added from the truth 0.802 (0.734–0.858), ratio 0.00. With no
size limit: truth 0.806; uncorrected 0.745 (0.704–0.781, misses the truth); corrected 0.787
(0.728–0.839), ratio 0.30, and 0.780 (0.718–0.834), ratio 0.42. The bias the correction removes
is mostly false detections: nearly a third of unmasked calls on split_val are not faces (18 of
58), against one in twelve masked calls (21 of 248). split_val is small (85 images), so the
corrected interval is wider than the uncorrected one: the calibration's own uncertainty, shown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agent.config import CameraSection
from calibration.evaluate_fit import detect_split
from calibration.fit import CLASSES, confusion_at
from calibration.heldout import Pair, agent_counts
from calibration.voc_labels import labels_for, truth_totals
from central.uncertainty.correction import CameraCalls, Confusion, Correction
from central.uncertainty.interval import wilson

MIN_FACE_PX = CameraSection.model_fields["min_face_px"].default  # the agent's default (16)


def confusion_from(pairs: list[Pair], thresholds: dict[str, float], *, min_face_px: float,
                   with_truth: bool) -> Confusion:  # fmt: skip
    """The fitted confusion at `thresholds` (with_truth: faces never found added as missed)."""
    labels = labels_for(pairs, min_face_px=min_face_px)
    c = confusion_at(labels, thresholds)
    if c is None:
        raise SystemExit("split_val has no labelled face of one class: cannot fit a confusion")
    if with_truth:
        totals = truth_totals((t for _, t in pairs), min_face_px=min_face_px)
        for cls in CLASSES:
            c[cls]["missed"] += max(0, totals[cls] - sum(c[cls].values()))
    row = lambda k: (c[k]["masked"], c[k]["unmasked"], c[k]["missed"])  # noqa: E731
    return Confusion(row("mask"), row("no_mask"), (c["not_a_face"]["masked"],
                                                   c["not_a_face"]["unmasked"]))  # fmt: skip


def compare(val: list[Pair], test: list[Pair], thresholds: dict[str, float], *,
            min_face_px: float) -> dict[str, Any]:  # fmt: skip
    """Uncorrected and corrected pooled compliance on test against its ground truth."""
    counted = agent_counts(test, thresholds, min_face_px=min_face_px)
    m, u = counted["mask"].kept, counted["no_mask"].kept
    totals = truth_totals((t for _, t in test), min_face_px=min_face_px)
    truth = totals["mask"] / (totals["mask"] + totals["no_mask"])
    lo, hi = wilson(m, m + u) or (0.0, 1.0)
    out: dict[str, Any] = {
        "min_face_px": min_face_px, "thresholds": thresholds,
        "test_truth": {"mask": totals["mask"], "no_mask": totals["no_mask"],
                       "compliance": round(truth, 4)},
        "test_counted": {"masked": m, "unmasked": u},
        "uncorrected": {"compliance": round(m / (m + u), 4), "low": round(lo, 4),
                        "high": round(hi, 4), "error": round(m / (m + u) - truth, 4),
                        "covers_truth": lo <= truth <= hi},
    }  # fmt: skip
    for name, with_truth in (("labels", False), ("labels+truth", True)):
        conf = confusion_from(val, thresholds, min_face_px=min_face_px, with_truth=with_truth)
        got = Correction({"test": CameraCalls(m, u, conf)}).of(["test"])
        if got is None:
            out[f"corrected[{name}]"] = {"usable": False, "confusion": conf.__dict__}
            continue
        out[f"corrected[{name}]"] = {
            "confusion": {"mask": conf.mask, "no_mask": conf.no_mask,
                          "not_a_face": conf.not_a_face, "labels": conf.labels},
            "compliance": round(got.compliance, 4), "low": round(got.low, 4),
            "high": round(got.high, 4), "error": round(got.compliance - truth, 4),
            "covers_truth": got.low <= truth <= got.high,
            "error_ratio_vs_uncorrected": round(
                abs(got.compliance - truth) / max(abs(m / (m + u) - truth), 1e-9), 3),
        }  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    """Run both splits through the model once, compare at the agent's size limit and at none."""
    from models.detector import DEFAULT_MODEL, load_detector
    from models.train.data import shared_root

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--min-face-px", type=float, default=float(MIN_FACE_PX))
    ap.add_argument("--out", type=Path, default=None, help="folder for the JSON result")
    args = ap.parse_args(argv)
    root = shared_root() / "data" / "andrewmvd"
    if not (root / "split_test.txt").exists():
        print(f"andrewmvd data set not found under {root} (set SIAGA_SHARED)", file=sys.stderr)
        return 2
    detector = load_detector(args.model)
    val, test = detect_split(detector, root, "val"), detect_split(detector, root, "test")
    thr = dict.fromkeys(CLASSES, float(detector.spec.conf_threshold))
    result = {
        "model": args.model,
        "runs": [compare(val, test, thr, min_face_px=px) for px in (args.min_face_px, 1.0)],
    }
    text = json.dumps(result, indent=1)
    print(text)
    for r in result["runs"]:
        t, un = r["test_truth"]["compliance"], r["uncorrected"]
        print(
            f"min_face_px {r['min_face_px']:g}: truth {t:.3f}; uncorrected {un['compliance']:.3f}"
            f" ({un['low']:.3f}–{un['high']:.3f})",
            end="",
        )
        for k in ("corrected[labels]", "corrected[labels+truth]"):
            c = r[k]
            if "compliance" in c:
                print(
                    f"; {k} {c['compliance']:.3f} ({c['low']:.3f}–{c['high']:.3f}), error ratio "
                    f"{c['error_ratio_vs_uncorrected']:.2f}",
                    end="",
                )
        print()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "compliance_correction.json").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
