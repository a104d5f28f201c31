"""Agent throughput: frames per second per core through the real camera worker.

For each clip, frames are decoded into memory first, then run (one onnxruntime thread, so the
figures are per core) through: the bare model (`session.run` on prepared tensors: the baseline),
the full worker without the motion gate, and the full worker with it. CPU seconds per frame and
the process's resident memory are reported too. Writes JSON and prints a table.

    python -m benchmarks.agent_throughput [--frames 200] [--out out/bench]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agent.config import AgentConfig
from agent.service import camera_setup, single_threaded_opencv
from agent.source import Frame
from agent.worker import CameraWorker
from models.adapters import SingleSessionAdapter
from models.detector import load_detector
from models.runtime import RuntimeConfig

CLIPS = {"vtest_sda (480x360, crowd)": "video/vtest_sda.mp4",
         "gituatu_nomask (1280x720, close-up)": "video/gituatu_nomask.mp4"}  # fmt: skip


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def decode(path: Path, limit: int) -> list[np.ndarray]:
    """The first `limit` frames of a video."""
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    while len(frames) < limit:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    if not frames:
        raise SystemExit(f"cannot read {path}")
    return frames


def timed(fn: Any, n: int) -> dict[str, float]:
    """Wall and CPU time of n calls of fn(i)."""
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"fps": n / wall, "cpu_ms_per_frame": cpu / n * 1000, "frames": n}


def make_worker(cfg: AgentConfig, detector: SingleSessionAdapter) -> CameraWorker:
    """A real worker whose capture is never started: frames are fed by hand."""
    cam = cfg.cameras[0]
    setup = camera_setup(cam, detector.spec.conf_threshold)
    return CameraWorker(cfg, cam, detector, setup.face_filter, lambda c, w: None,
                        detect_conf=setup.detect_conf)  # fmt: skip


def config(gate: bool) -> AgentConfig:
    return AgentConfig.model_validate({
        "agent": {"id": "bench", "site": "bench", "kelurahan_code": "33.74.01.1001"},
        "cameras": [{"id": "cam", "source": "synthetic:"}],
        "sampling": {"motion_gate": gate, "detect_fps": 10},
    })  # fmt: skip


def bench_clip(frames: list[np.ndarray], model: str) -> dict[str, Any]:
    """Bare model, worker without gate, worker with gate; same frames, same process."""
    single_threaded_opencv()  # as the agent runs it (agent/service.py)
    det = load_detector(model, runtime=RuntimeConfig(intra_op_threads=1, inter_op_threads=1))
    assert isinstance(det, SingleSessionAdapter)
    feeds = [det.prepare(f)[0] for f in frames]
    det.run(feeds[0])  # warm-up
    out: dict[str, Any] = {"bare_model": timed(lambda i: det.run(feeds[i]), len(frames))}
    t0 = time.time()
    for gate in (False, True):
        worker = make_worker(config(gate), det)
        rss0 = rss_mb()
        stats = timed(lambda i, w=worker: w.process(
            Frame(frames[i], i, t0 + i / 10, time.monotonic())), len(frames))  # fmt: skip
        stats["inferred_share"] = worker.health.inferred / max(1, worker.health.processed)
        stats["people_counted_so_far"] = worker.health.people
        stats["rss_growth_mb"] = rss_mb() - rss0
        out["worker_gate_on" if gate else "worker_gate_off"] = stats
    bare = out["bare_model"]["fps"]
    for key in ("worker_gate_off", "worker_gate_on"):
        out[key]["ratio_to_bare_model"] = out[key]["fps"] / bare
    out["rss_mb"] = rss_mb()
    return out


def memory_per_camera(model: str, cameras: int = 4, run_s: float = 8.0) -> dict[str, float]:
    """RSS of a running agent service with 1, then `cameras` synthetic cameras (no broker)."""
    import threading

    from agent.service import AgentService

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, cameras):
            cfg = AgentConfig.model_validate({
                "agent": {"id": "bench", "site": "bench", "kelurahan_code": "33.74.01.1001"},
                "cameras": [{"id": f"c{i}", "source": "synthetic:frames=100000,fps=10"}
                            for i in range(n)],
                "model": {"name": model, "intra_op_threads": 1},
                "mqtt": {"port": 1, "reconnect_min_s": 5},
                "outbox": {"path": f"{tmp}/outbox{n}.sqlite3"},
            })  # fmt: skip
            service = AgentService(cfg)
            runner = threading.Thread(target=service.run, daemon=True)
            runner.start()
            time.sleep(run_s)
            out[f"rss_mb_{n}_cameras"] = rss_mb()
            service.stop()
            runner.join(10)
    out["rss_mb_per_extra_camera"] = (
        out[f"rss_mb_{cameras}_cameras"] - out["rss_mb_1_cameras"]
    ) / (cameras - 1)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run over both clips."""
    shared = Path(os.environ.get("SIAGA_SHARED", "../shared"))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--model", default="siaga_facemask_v1")
    p.add_argument("--out", type=Path, default=Path("out/bench"))
    args = p.parse_args(argv)
    report: dict[str, Any] = {"model": args.model, "onnx_threads": 1, "results": {}}
    report["memory"] = memory_per_camera(args.model)
    for name, rel in CLIPS.items():
        frames = decode(shared / rel, args.frames)
        report["results"][name] = bench_clip(frames, args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "agent_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'clip':38}{'stage':18}{'fps/core':>10}{'cpu ms/f':>10}{'x bare':>8}{'inferred':>9}")
    for name, r in report["results"].items():
        for stage in ("bare_model", "worker_gate_off", "worker_gate_on"):
            s = r[stage]
            ratio = (
                f"{s['ratio_to_bare_model']:8.2f}" if "ratio_to_bare_model" in s else f"{'1.00':>8}"
            )
            share = f"{s['inferred_share']:9.2f}" if "inferred_share" in s else f"{'-':>9}"
            print(f"{name:38}{stage:18}{s['fps']:10.1f}{s['cpu_ms_per_frame']:10.1f}{ratio}{share}")
        print(f"{'':38}{'process RSS':18}{r['rss_mb']:10.0f} MB")
    mem = report["memory"]
    print(
        f"agent RSS: {mem['rss_mb_1_cameras']:.0f} MB with 1 camera, "
        f"+{mem['rss_mb_per_extra_camera']:.1f} MB per extra camera (synthetic 640x360)"
    )
    print(f"written {args.out / 'agent_throughput.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
