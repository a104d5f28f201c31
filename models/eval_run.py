"""The body of `siaga eval`: pick the annotated images, run, score, format."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from models.adapters import Adapter
from models.evaluate import EvalReport, run_detector, summarise
from models.voc import read_split


def annotation_files(annotations: Path, split: Path | None) -> list[Path]:
    """VOC files to use: all in the folder, or those whose stem the split file lists."""
    if not annotations.is_dir():
        raise FileNotFoundError(f"annotations folder {annotations} does not exist")
    if split is None:
        files = sorted(annotations.glob("*.xml"))
    else:
        if not split.is_file():
            raise FileNotFoundError(f"split file {split} does not exist")
        stems = read_split(split)
        files = [annotations / f"{s}.xml" for s in stems]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} annotation files listed in {split} are missing, e.g. {missing[:3]}"
            )
    if not files:
        raise FileNotFoundError(f"no .xml annotation files in {annotations}")
    return files


def evaluate_folder(
    detector: Adapter, images: Path, annotations: Path, *, split: Path | None = None
) -> EvalReport:
    """Evaluate a detector on a VOC folder with a progress bar."""
    if not images.is_dir():
        raise FileNotFoundError(f"images folder {images} does not exist")
    files = annotation_files(annotations, split)
    with tqdm(total=len(files), unit="img", disable=None, file=sys.stderr, desc="eval") as bar:
        results, errors = run_detector(detector, images, files, on_image=lambda: bar.update(1))
    return summarise(detector.spec.name, detector.spec.conf_threshold, results, errors)


def _fmt(v: float) -> str:
    return "   -  " if v != v else f"{v:6.3f}"  # NaN: no ground truth of that kind


def format_report(r: EvalReport) -> str:
    """A readable table of one report."""
    lines = [
        f"model {r.model}: {r.images} images, truth boxes mask {r.truth_boxes['mask']}, "
        f"no_mask {r.truth_boxes['no_mask']}, ignored {r.truth_boxes['ignored']}",
        f"{'':14}{'mask':>8}{'no_mask':>8}{'face':>8}",
        f"{'AP50':14}" + "".join(f"{_fmt(r.ap50[k]):>8}" for k in ("mask", "no_mask", "face")),
        f"{'AP30':14}" + "".join(f"{_fmt(r.ap30[k]):>8}" for k in ("mask", "no_mask", "face")),
    ]
    for bucket, aps in r.ap50_by_face_width.items():
        label = f"AP50 w {bucket}"
        lines.append(
            f"{label:14}" + "".join(f"{_fmt(aps[k]):>8}" for k in ("mask", "no_mask", "face"))
        )
    lines += [
        f"count error per image at score >= {r.operating_threshold:.2f}: "
        f"MAE mask {r.count_mae['mask']:.3f}, no_mask {r.count_mae['no_mask']:.3f}; "
        f"bias mask {r.count_bias['mask']:+.3f}, no_mask {r.count_bias['no_mask']:+.3f}",
        f"latency per image (decode excluded): mean {r.latency_ms['mean']:.1f} ms, "
        f"p50 {r.latency_ms['p50']:.1f} ms, p95 {r.latency_ms['p95']:.1f} ms",
    ]
    return "\n".join(lines)
