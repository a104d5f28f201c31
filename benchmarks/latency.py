"""Per-model latency on a 720p frame at 1 and 2 threads, and pipeline overhead over session.run.

For every detector in the registry whose file is found: the bare `session.run` on a prepared
tensor and the full pipeline (resize + normalise + session.run + output decoding + NMS) are timed
alternately in the same process, so the ratio full / bare is measured under the same load.
Writes JSON (default out/bench/latency.json) and prints a table.

    python -m benchmarks.latency [--frame IMAGE_OR_VIDEO] [--runs 40] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from models.adapters import Adapter, SingleSessionAdapter
from models.detector import build_adapter
from models.registry import ModelError, Registry
from models.runtime import RuntimeConfig


def load_frame(path: Path) -> np.ndarray:
    """A 1280x720 BGR frame: the 10th frame of a video, or an image, resized to 720p."""
    if path.suffix.lower() in {".mp4", ".avi", ".mkv", ".mov"}:
        cap = cv2.VideoCapture(str(path))
        frame = None
        for _ in range(10):
            ok, f = cap.read()
            frame = f if ok else frame
        cap.release()
    else:
        frame = cv2.imread(str(path))
    if frame is None:
        raise SystemExit(f"cannot read a frame from {path}")
    return cv2.resize(frame, (1280, 720)) if frame.shape[:2] != (720, 1280) else frame


def stats(samples_ms: list[float]) -> dict[str, float]:
    """Median, p95 and mean of a list of milliseconds."""
    a = np.asarray(samples_ms)
    return {
        "median": float(np.median(a)),
        "p95": float(np.percentile(a, 95)),
        "mean": float(a.mean()),
    }


def time_model(det: Adapter, frame: np.ndarray, runs: int) -> dict[str, Any]:
    """Alternate bare session.run and the full detect() pipeline; return both distributions."""
    full: list[float] = []
    bare: list[float] = []
    single = isinstance(det, SingleSessionAdapter)
    feeds = det.prepare(frame)[0] if isinstance(det, SingleSessionAdapter) else None
    for i in range(runs + 3):
        t0 = time.perf_counter()
        det.detect(frame)
        t1 = time.perf_counter()
        if single:
            assert feeds is not None and isinstance(det, SingleSessionAdapter)
            det.run(feeds)
        t2 = time.perf_counter()
        if i >= 3:  # warm-up excluded
            full.append((t1 - t0) * 1000)
            bare.append((t2 - t1) * 1000)
    result: dict[str, Any] = {"full_ms": stats(full)}
    if single:
        result["bare_run_ms"] = stats(bare)
        result["overhead_ratio"] = float(np.median(full) / np.median(bare))
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark over every available detector."""
    shared = Path(os.environ.get("SIAGA_SHARED", "../shared"))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frame", type=Path, default=shared / "video" / "gituatu_video.mp4")
    p.add_argument("--runs", type=int, default=40)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--model", action="append", help="only these models (repeatable)")
    p.add_argument("--out", type=Path, default=Path("out/bench"))
    args = p.parse_args(argv)
    frame = load_frame(args.frame)
    reg = Registry()
    names = args.model or reg.names(detectors_only=True)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for name in names:
        for threads in args.threads:
            runtime = RuntimeConfig(intra_op_threads=threads)
            try:
                det = build_adapter(reg.resolve(name), reg, runtime)
            except ModelError as exc:
                print(f"skip {name}: {exc}", file=sys.stderr)
                break
            results.setdefault(name, {})[f"threads_{threads}"] = time_model(det, frame, args.runs)
    report = {
        "frame": f"{args.frame} (1280x720)",
        "runs": args.runs,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "onnxruntime": ort.__version__,
        },
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'model':28}{'thr':>4}{'full med':>10}{'full p95':>10}{'run med':>10}{'full/run':>10}")
    for name, by_threads in results.items():
        for key, r in by_threads.items():
            full = r["full_ms"]
            bare = r.get("bare_run_ms")
            assert isinstance(full, dict)
            run_med = f"{bare['median']:10.1f}" if isinstance(bare, dict) else f"{'-':>10}"
            ratio = f"{r['overhead_ratio']:10.3f}" if "overhead_ratio" in r else f"{'-':>10}"
            print(
                f"{name:28}{key.split('_')[1]:>4}{full['median']:10.1f}{full['p95']:10.1f}"
                f"{run_med}{ratio}"
            )
    print(f"written {args.out / 'latency.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
