"""The floor: the least CPU per camera any agent could pay on these streams with this decoder and
this model, measured in the same run as the agents it is read against.

Why: a cameras-per-core target is only reachable if decoding plus inference leave room for it.
Every frame of an H.264 stream must be decoded (each P-frame refers to the one before it; the
clips and most cameras send no B-frames that could be skipped), and the sampled frames must go
through the model. The floor is a minimal agent that does exactly that and nothing else: it opens
the same N live streams the way the agent does (`agent.capture.open_capture`: FFmpeg, one
decoding thread), grabs every frame, converts detect_fps of them a second by the agent's
schedule, and runs the model (one shared session, one thread per run, no spinning: the agent's
settings) on a tensor prepared once, for as many of them a second as the agent it is compared
with inferred (all with the motion gate off, fewer with it on). No preprocessing, gate, judging,
tracking, counting or publishing. Its process CPU / N is the floor; 1 / floor the ceiling of
cameras per core on this machine.

Why a minimal agent and not decoding alone plus the bare model: decoding costs more on a machine
left half idle than in a busy agent (2.3-2.4 against 1.8-2.0 ms a 720p frame, measured), and the
runs evict the decoder's caches as the agent's do; running both under the agent's own load keeps
the floor from being too high or too low.

`python -m benchmarks.cameras_per_box.floor --detect-fps 5 --infer-fps 5 --model M URL…` prints
one JSON object (the child's side); `run_floor` runs it as a child process of the tree under test
and adds the servers' and the machine's CPU over its life.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.cameras_per_box.procstat import machine_busy_seconds
from benchmarks.cameras_per_box.streams import StreamServers, Variant

OPEN_TIMEOUT_S = 60.0
Infer = Callable[[], object]


class Reader(threading.Thread):
    """One camera: open, then grab every frame, retrieve the sampled ones and infer `share` of
    those (evenly: a credit of `share` a sample, a run per whole credit) until stopped."""

    def __init__(self, url: str, detect_fps: float, share: float, infer: Infer,
                 stop: threading.Event) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.url, self.period, self.share, self.infer = url, 1.0 / detect_fps, share, infer
        self.stop = stop
        self.grabbed = self.retrieved = self.inferred = 0
        self.decode_s = self.infer_s = 0.0  # this thread's CPU in grab() and in the runs
        self.error = ""
        self.opened = threading.Event()

    def run(self) -> None:
        from agent.capture import open_capture

        cap = open_capture(self.url, open_timeout_s=20, read_timeout_s=10, threads=1)
        try:
            if not cap.isOpened():
                self.error = "cannot open"
                return
            next_sample, credit = time.monotonic(), 0.0
            while not self.stop.is_set():
                c0 = time.thread_time()
                ok = cap.grab()
                self.decode_s += time.thread_time() - c0
                if not ok:
                    self.error = "stream ended"
                    return
                self.grabbed += 1
                self.opened.set()
                now = time.monotonic()
                if now < next_sample:  # the agent's schedule (agent/source.py `_wanted`)
                    continue
                next_sample = max(next_sample + self.period, now + self.period / 2)
                ok, _ = cap.retrieve()
                self.retrieved += ok
                credit += self.share
                if ok and credit >= 1.0:
                    credit -= 1.0
                    c0 = time.thread_time()
                    self.infer()
                    self.infer_s += time.thread_time() - c0
                    self.inferred += 1
        finally:
            self.opened.set()
            cap.release()


def model_run(model: str, clip: Path) -> Infer:
    """One shared session with the agent's settings for a box with a camera per core or more
    (one thread per run, no spinning), and a call that runs it on a frame of `clip` prepared
    once (preprocessing is the agent's own cost, not the floor's)."""
    import cv2

    from models.adapters import SingleSessionAdapter
    from models.detector import load_detector
    from models.runtime import RuntimeConfig

    runtime = RuntimeConfig(intra_op_threads=1, inter_op_threads=1, allow_spinning=False)
    det = load_detector(model, runtime=runtime)
    assert isinstance(det, SingleSessionAdapter)
    cap = cv2.VideoCapture(str(clip))
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read {clip}")
    feed = det.prepare(frame)[0]
    return lambda: det.run(feed)


def measure(urls: list[str], detect_fps: float, infer_fps: float, infer: Infer,
            warmup_s: float, measure_s: float) -> dict[str, Any]:  # fmt: skip
    """The child's figures: its CPU over the interval and per camera, frames grabbed, retrieved
    and inferred a second, and the CPU the readers spent decoding and in the model."""
    import cv2

    cv2.setNumThreads(1)  # as in the agent: the cameras are the parallelism
    stop = threading.Event()
    share = min(1.0, infer_fps / detect_fps)
    readers = [Reader(u, detect_fps, share, infer, stop) for u in urls]
    for r in readers:
        r.start()
    t_open = time.monotonic()
    for r in readers:
        r.opened.wait(max(0.0, OPEN_TIMEOUT_S - (time.monotonic() - t_open)))
    errors = {r.url: r.error for r in readers if r.error or not r.opened.is_set()}
    if errors:
        stop.set()
        return {"error": f"streams not read: {errors}"}
    time.sleep(warmup_s)
    fields = ("grabbed", "retrieved", "inferred", "decode_s", "infer_s")
    r0 = [{f: getattr(r, f) for f in fields} for r in readers]
    c0, w0 = time.process_time(), time.monotonic()
    time.sleep(measure_s)
    c1, w1 = time.process_time(), time.monotonic()
    d = [{f: getattr(r, f) - a[f] for f in fields} for r, a in zip(readers, r0, strict=True)]
    stop.set()
    dt, cpu, n = w1 - w0, c1 - c0, len(urls)
    frames = sum(x["grabbed"] for x in d)
    grab = [x["grabbed"] / dt for x in d]
    return {
        "n": n, "measured_s": round(dt, 2), "cores": cpu / dt, "cores_per_camera": cpu / dt / n,
        "decode_cores_per_camera": sum(x["decode_s"] for x in d) / dt / n,
        "inference_cores_per_camera": sum(x["infer_s"] for x in d) / dt / n,
        "decode_ms_per_frame": 1000 * sum(x["decode_s"] for x in d) / frames if frames else None,
        "grab_fps_min": min(grab), "grab_fps_mean": sum(grab) / n,
        "retrieve_fps_mean": sum(x["retrieved"] for x in d) / dt / n,
        "infer_fps_mean": sum(x["inferred"] for x in d) / dt / n, "infer_fps_asked": infer_fps,
    }  # fmt: skip


def run_floor(tree: Path, variant: Variant, n: int, *, detect_fps: float, infer_fps: float,
              model: str, warmup_s: float, measure_s: float,
              workdir: Path) -> dict[str, Any]:  # fmt: skip
    """N fresh servers and the minimal agent of `tree`; its figures with the servers' CPU and
    whatever else the machine ran meanwhile."""
    stepdir = workdir / f"floor_{variant.name}_{n:02d}_{infer_fps:.2f}"
    stepdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.cameras_per_box.floor"]
    cmd += ["--detect-fps", f"{detect_fps:g}", "--warmup-s", f"{warmup_s:g}"]
    cmd += ["--measure-s", f"{measure_s:g}", "--infer-fps", f"{infer_fps:g}", "--model", model]
    cmd += ["--clip", str(variant.path)]
    # The tree under test's agent.capture; this checkout's benchmarks package.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(Path(__file__).parents[2])]))
    limit = OPEN_TIMEOUT_S + warmup_s + measure_s + 30
    with StreamServers(variant, n, stepdir / "servers") as servers:
        env.update(servers.agent_env)
        s0, m0, w0 = servers.cpu_seconds(), machine_busy_seconds(), time.monotonic()
        try:
            done = subprocess.run(cmd + servers.urls, env=env, capture_output=True, text=True,
                                  timeout=limit, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            return {"variant": variant.name, "n": n, "infer_fps_asked": infer_fps,
                "error": f"no answer in {limit:.0f} s"}  # fmt: skip
        s1, m1, w1 = servers.cpu_seconds(), machine_busy_seconds(), time.monotonic()
    try:
        row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"variant": variant.name, "n": n, "infer_fps_asked": infer_fps,
                "error": (done.stderr or done.stdout)[-2000:]}  # fmt: skip
    row["variant"] = variant.name
    # Over the child's whole life (open, warm-up, measure): the servers' mean cores.
    row["server_cores"] = (s1 - s0) / (w1 - w0)
    row["machine_cores"] = (m1 - m0) / (w1 - w0)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("urls", nargs="+")
    p.add_argument("--detect-fps", type=float, default=5.0)
    p.add_argument("--infer-fps", type=float, default=5.0, help="model runs a second a camera")
    p.add_argument("--model", default="siaga_facemask_v1")
    p.add_argument("--clip", type=Path, required=True, help="the model runs on its first frame")
    p.add_argument("--warmup-s", type=float, default=10.0)
    p.add_argument("--measure-s", type=float, default=30.0)
    args = p.parse_args(argv)
    infer = model_run(args.model, args.clip)
    row = measure(args.urls, args.detect_fps, args.infer_fps, infer, args.warmup_s, args.measure_s)
    print(json.dumps(row), flush=True)
    # Daemon threads may sit inside FFmpeg; leaving without unwinding them is what we want.
    os._exit(1 if "error" in row else 0)


if __name__ == "__main__":
    main()
