"""What the Prometheus histograms add per message and per frame (issue 17), against the work
they sit beside, measured in one run.

- Collector: per committed batch of B count rows, the lags are computed and kept for the JSON
  percentiles (the baseline: what every batch did before) and, now, also observed into
  central/ingest/histograms.py. Reported: microseconds added per message and the ratio.
- Agent: per processed frame the worker observes two prometheus_client Histograms (inference
  time, frame-to-count latency); the baseline is the bare model on one frame of a real clip.

    python -m benchmarks.metrics_overhead [--batches 2000] [--batch 500] [--out out/bench]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.metrics import inference_histogram, latency_histogram
from central.ingest.histograms import IngestHistograms


def ingest(batches: int, batch: int) -> dict[str, Any]:
    """Per-message cost of the batch's lag bookkeeping, without and with the histograms."""
    now = datetime.now(UTC)
    ends = [now - timedelta(seconds=0.5 + i % 300) for i in range(batch)]
    keep: deque[float] = deque(maxlen=10_000)
    hist = IngestHistograms()

    def base() -> list[float]:
        t = time.time()
        lags = [t - e.timestamp() for e in ends]
        keep.extend(lags)
        return lags

    out: dict[str, float] = {}

    def with_histograms() -> None:
        hist.observe_batch(base(), batch, 0.01)

    for name, fn in (("baseline", base), ("with_histograms", with_histograms)):
        t0 = time.perf_counter()
        for _ in range(batches):
            fn()
        out[f"{name}_us_per_msg"] = (time.perf_counter() - t0) / (batches * batch) * 1e6
    out["added_us_per_msg"] = out["with_histograms_us_per_msg"] - out["baseline_us_per_msg"]
    return out


def agent(frames: int, shared: Path) -> dict[str, Any]:
    """Two histogram observations per frame against the bare model on a real frame."""
    import cv2

    from models.detector import load_detector
    from models.runtime import RuntimeConfig

    cap = cv2.VideoCapture(str(shared / "video" / "vtest_sda.mp4"))
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise SystemExit("cannot read the clip (SIAGA_SHARED)")
    det = load_detector("siaga_facemask_v1",
                        runtime=RuntimeConfig(intra_op_threads=1, inter_op_threads=1))  # fmt: skip
    feed = det.prepare(frame)[0]  # type: ignore[attr-defined]
    det.run(feed)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    for _ in range(20):
        det.run(feed)  # type: ignore[attr-defined]
    model_us = (time.perf_counter() - t0) / 20 * 1e6
    inf, lat = inference_histogram(), latency_histogram()
    t0 = time.perf_counter()
    for i in range(frames):
        inf.observe(0.02 + (i % 7) * 0.01)
        lat.observe(0.1 + (i % 5) * 0.05)
    observe_us = (time.perf_counter() - t0) / frames * 1e6
    return {"bare_model_us_per_frame": model_us, "histograms_us_per_frame": observe_us,
            "ratio_to_bare_model": observe_us / model_us}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run both and write out/bench/metrics_overhead.json."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=2000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--frames", type=int, default=100_000)
    p.add_argument("--out", type=Path, default=Path("out/bench"))
    args = p.parse_args(argv)
    shared = Path(os.environ.get("SIAGA_SHARED", "../shared"))
    result: dict[str, Any] = {"ingest": ingest(args.batches, args.batch),
                              "agent": agent(args.frames, shared),
                              "load_avg": os.getloadavg()}  # fmt: skip
    i, a = result["ingest"], result["agent"]
    print(
        f"collector: {i['baseline_us_per_msg']:.3f} -> {i['with_histograms_us_per_msg']:.3f} "
        f"us/msg for the lag bookkeeping (+{i['added_us_per_msg']:.3f} us/msg)"
    )
    print(
        f"agent: histograms {a['histograms_us_per_frame']:.2f} us/frame = "
        f"{a['ratio_to_bare_model']:.2e} of the bare model ({a['bare_model_us_per_frame']:.0f} us)"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
