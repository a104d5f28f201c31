"""Where does mask judgement become unreliable? Per face-width bucket on andrewmvd.

For the shipped model on split_val + split_test (never trained on): AP50 per bucket for mask,
no_mask and faces (as `siaga eval`), plus, for faces the model found (IoU ≥ 0.5, score at the
operating threshold), how often it called mask vs no_mask right. The report's
UNRELIABLE_FACE_PX comes from this table. A second table shows what the agent's judgement
(agent/judge.py, with its second opinion) does to the found faces per bucket: the share it lets
vote on masks, and the label accuracy of those it judges and of those it sets aside.

    python -m calibration.size_study [--model siaga_facemask_v1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from agent.config import JudgingSection
from agent.judge import JUDGEABLE, judge_faces
from calibration.voc_labels import match_truth
from models.adapters import Adapter, MaskClassifier
from models.detector import DEFAULT_MODEL, load_classifier, load_detector
from models.evaluate import SIZE_BUCKETS, ImageResult, find_image, run_detector, summarise
from models.train.data import shared_root
from models.voc import parse_voc, read_split

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


def judgement_by_bucket(
    detector: Adapter, classifier: MaskClassifier | None, images: Path, files: list[Path],
    cfg: JudgingSection,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Per width bucket, over faces found at the operating threshold: how many, the share
    judged, label accuracy among the judged and among the set-aside."""
    tally = {b: np.zeros(4) for b in SIZE_BUCKETS}  # found, judged, right judged, right aside
    for ann in files:
        truth = parse_voc(ann)
        path = find_image(images, truth, ann.stem)
        image = None if path is None else cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        faces, codes = judge_faces(image, detector.detect(image), cfg, classifier)
        for k, j in enumerate(match_truth(faces, truth)):
            if j < 0:
                continue
            width = float(truth.boxes[j, 2] - truth.boxes[j, 0])
            right = int(faces.labels[k] == truth.labels[j])
            judged = codes[k] == JUDGEABLE
            for name, (lo, hi) in SIZE_BUCKETS.items():
                if lo <= width < hi:
                    tally[name] += (1, judged, right * judged, right * (not judged))
    out = {}
    for b, (n, judged, rj, ra) in tally.items():
        out[b] = {"found": n, "judged_share": judged / n if n else float("nan"),
                  "acc_judged": rj / judged if judged else float("nan"),
                  "acc_set_aside": ra / (n - judged) if n > judged else float("nan")}  # fmt: skip
    return out


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
    cfg = JudgingSection()
    judged = judgement_by_bucket(detector, load_classifier(cfg.second_opinion), root / "images",
                                 files, cfg)  # fmt: skip
    print("\nthe agent's judgement on the found faces (agent/judge.py, defaults)")
    print(f"{'width px':9} {'found':>6} {'judged':>7} {'acc judged':>10} {'acc set aside':>13}")
    for bucket, j in judged.items():
        print(f"{bucket:9} {j['found']:6.0f} {j['judged_share']:7.1%} {j['acc_judged']:10.3f} "
              f"{j['acc_set_aside']:13.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
