"""Where does mask judgement become unreliable? Per face-width bucket on andrewmvd.

For the shipped model on split_val + split_test (never trained on): AP50 per bucket for mask,
no_mask and faces (as `siaga eval`), plus, for faces the model found (IoU ≥ 0.5, score at the
operating threshold), how often it called mask vs no_mask right. The report's
UNRELIABLE_FACE_PX comes from this table.

    python -m calibration.size_study [--model siaga_facemask_v1]
"""

from __future__ import annotations

import argparse
import sys

from calibration.voc_labels import match_truth
from models.detector import DEFAULT_MODEL, load_detector
from models.evaluate import SIZE_BUCKETS, ImageResult, run_detector, summarise
from models.train.data import shared_root
from models.voc import read_split

SPLITS = ("val", "test")


def bucket_accuracy(results: list[ImageResult], threshold: float) -> dict[str, tuple[float, int]]:
    """Per width bucket: share of found faces with the right mask label, and how many."""
    right = dict.fromkeys(SIZE_BUCKETS, 0)
    seen = dict.fromkeys(SIZE_BUCKETS, 0)
    for r in results:
        dets = r.detections.above(threshold)
        matched = match_truth(dets, r.truth)
        for k, j in enumerate(matched):
            if j < 0:
                continue
            width = float(r.truth.boxes[j, 2] - r.truth.boxes[j, 0])
            for name, (lo, hi) in SIZE_BUCKETS.items():
                if lo <= width < hi:
                    seen[name] += 1
                    right[name] += int(dets.labels[k] == r.truth.labels[j])
    return {b: (right[b] / seen[b] if seen[b] else float("nan"), seen[b]) for b in SIZE_BUCKETS}


def main(argv: list[str] | None = None) -> int:
    """Print the per-bucket table."""
    p = argparse.ArgumentParser(prog="python -m calibration.size_study", description=__doc__)
    p.add_argument("--model", default=DEFAULT_MODEL)
    args = p.parse_args(argv)
    root = shared_root() / "data" / "andrewmvd"
    if not (root / "annotations").is_dir():
        print(f"andrewmvd data set not found under {root} (set SIAGA_SHARED)", file=sys.stderr)
        return 2
    detector = load_detector(args.model)
    stems = [s for split in SPLITS for s in read_split(root / f"split_{split}.txt")]
    files = [root / "annotations" / f"{s}.xml" for s in stems]
    results, errors = run_detector(detector, root / "images", files)
    threshold = detector.spec.conf_threshold
    report = summarise(args.model, threshold, results, errors)
    acc = bucket_accuracy(results, threshold)
    print(f"{args.model} on andrewmvd split_{'+'.join(SPLITS)} ({len(results)} images)")
    print(f"{'width px':9} {'mask AP50':>9} {'no_mask AP50':>12} {'face AP50':>9} "
          f"{'label acc':>9} {'faces':>6}")  # fmt: skip
    for bucket in SIZE_BUCKETS:
        ap = report.ap50_by_face_width[bucket]
        a, n = acc[bucket]
        print(f"{bucket:9} {ap['mask']:9.3f} {ap['no_mask']:12.3f} {ap['face']:9.3f} "
              f"{a:9.3f} {n:6d}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
