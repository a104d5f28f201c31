"""Agent throughput: frames per second per core through the real camera worker.

For each clip, frames are decoded into memory first, then run (one onnxruntime thread, so the
figures are per core) through: the bare model (`session.run` on prepared tensors: the baseline),
the full worker without the motion gate, and the full worker with it. CPU seconds per frame and
the process's resident memory are reported too. Writes JSON and prints a table.

The three run interleaved, in blocks of `--block` frames in a rotating order, and the clip is
played `--passes` times: on a shared VM the speed of a core drifts by 5–10 % within a minute, and
run one after the other (as this benchmark did before) that drift landed wholly in the ratio.
Each ratio is total against total; the spread of the per-block ratios is reported beside it.

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


STAGES = ("bare_model", "worker_gate_off", "worker_gate_on")


def bench_clip(
    frames: list[np.ndarray], model: str, *, block: int = 20, passes: int = 2
) -> dict[str, Any]:
    """Bare model, worker without gate, worker with gate; same frames, same process, interleaved
    block by block (module docstring). The workers see the clip in order, pass after pass, on a
    clock that goes on (10 fps), as a camera looping the clip would."""
    single_threaded_opencv()  # as the agent runs it (agent/service.py)
    det = load_detector(model, runtime=RuntimeConfig(intra_op_threads=1, inter_op_threads=1))
    assert isinstance(det, SingleSessionAdapter)
    feeds = [det.prepare(f)[0] for f in frames]
    det.run(feeds[0])  # warm-up
    workers = {"worker_gate_off": make_worker(config(False), det),
               "worker_gate_on": make_worker(config(True), det)}  # fmt: skip
    t0 = time.time()
    calls: dict[str, Any] = {
        "bare_model": lambda i: det.run(feeds[i % len(frames)]),
        **{
            key: (
                lambda i, w=w: w.process(
                    Frame(frames[i % len(frames)], i, t0 + i / 10, time.monotonic())
                )
            )
            for key, w in workers.items()
        },
    }
    wall = dict.fromkeys(STAGES, 0.0)
    cpu = dict.fromkeys(STAGES, 0.0)
    block_ratios: dict[str, list[float]] = {"worker_gate_off": [], "worker_gate_on": []}
    rss0 = rss_mb()
    total = len(frames) * passes
    for b, first in enumerate(range(0, total, block)):
        idx = range(first, min(first + block, total))
        order = STAGES[b % 3 :] + STAGES[: b % 3]  # each stage first, second, third in turn
        block_cpu = {}
        for stage in order:
            w0, c0 = time.perf_counter(), time.process_time()
            for i in idx:
                calls[stage](i)
            wall[stage] += time.perf_counter() - w0
            block_cpu[stage] = time.process_time() - c0
            cpu[stage] += block_cpu[stage]
        for key in block_ratios:
            block_ratios[key].append(block_cpu["bare_model"] / max(block_cpu[key], 1e-9))
    out: dict[str, Any] = {
        stage: {
            "fps": total / wall[stage],
            "cpu_ms_per_frame": cpu[stage] / total * 1000,
            "frames": total,
        }
        for stage in STAGES
    }
    for key, worker in workers.items():
        stats = out[key]
        stats["inferred_share"] = worker.health.inferred / max(1, worker.health.processed)
        stats["people_counted_so_far"] = worker.health.people
        # Total against total, in CPU time (wall time on a shared VM also counts its neighbours).
        stats["ratio_to_bare_model"] = cpu["bare_model"] / cpu[key]
        q = np.percentile(block_ratios[key], [10, 50, 90])
        stats["block_ratio_p10_p50_p90"] = [round(float(v), 3) for v in q]
    out["rss_growth_mb"] = rss_mb() - rss0
    out["rss_mb"] = rss_mb()
    out["block"], out["passes"] = block, passes
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
    p.add_argument("--block", type=int, default=20, help="frames per interleaved block")
    p.add_argument("--passes", type=int, default=2, help="times each clip is played")
    p.add_argument("--model", default="siaga_facemask_v1")
    p.add_argument("--out", type=Path, default=Path("out/bench"))
    args = p.parse_args(argv)
    report: dict[str, Any] = {"model": args.model, "onnx_threads": 1, "results": {}}
    report["memory"] = memory_per_camera(args.model)
    for name, rel in CLIPS.items():
        frames = decode(shared / rel, args.frames)
        report["results"][name] = bench_clip(
            frames, args.model, block=args.block, passes=args.passes
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "agent_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{'clip':38}{'stage':18}{'fps/core':>10}{'cpu ms/f':>10}{'x bare':>8}{'inferred':>9}"
        f"{'blocks p10-p90':>16}"
    )
    for name, r in report["results"].items():
        for stage in ("bare_model", "worker_gate_off", "worker_gate_on"):
            s = r[stage]
            ratio = (
                f"{s['ratio_to_bare_model']:8.2f}" if "ratio_to_bare_model" in s else f"{'1.00':>8}"
            )
            share = f"{s['inferred_share']:9.2f}" if "inferred_share" in s else f"{'-':>9}"
            spread = s.get("block_ratio_p10_p50_p90")
            band = f"{spread[0]:8.2f}-{spread[2]:.2f}" if spread else ""
            print(
                f"{name:38}{stage:18}{s['fps']:10.1f}{s['cpu_ms_per_frame']:10.1f}{ratio}{share}"
                f"{band}"
            )
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
