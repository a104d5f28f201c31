"""The floor: the least CPU per camera any agent could pay on these streams with this decoder and
this model, measured in the same run as the agents it is read against.

Why: a cameras-per-core target is only reachable if decoding plus inference leave room for it.
Every frame of an H.264 stream must be decoded (each P-frame refers to the one before it; the
clips and most cameras send no B-frames that could be skipped), and the sampled frames must go
through the model. So the floor of one camera is

    decode floor + inferred frames a second × the bare model's CPU per frame

where the decode floor is measured here by a process that opens the same N live streams the way
the agent does (`agent.capture.open_capture`: FFmpeg, one decoding thread), grabs every frame,
converts detect_fps of them a second by the same schedule as the agent's source and does nothing
else. 1 / floor is the ceiling of cameras per core on this machine: no preprocessing, tracking,
counting, publishing or interpreter left. An agent at x_floor = 1.1 spends 10 % above it.

`python -m benchmarks.cameras_per_box.floor --detect-fps 5 --warmup-s 10 --measure-s 30 URL…`
prints one JSON object (the child's side); `run_floor` runs it as a child process of the tree
under test and adds the servers' and the machine's CPU over the same interval.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.cameras_per_box.procstat import machine_busy_seconds
from benchmarks.cameras_per_box.streams import StreamServers, Variant

OPEN_TIMEOUT_S = 60.0


class Reader(threading.Thread):
    """One camera: open, then grab every frame and retrieve the sampled ones until stopped."""

    def __init__(self, url: str, detect_fps: float, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.period, self.stop = url, 1.0 / detect_fps, stop
        self.grabbed = self.retrieved = 0
        self.error = ""
        self.opened = threading.Event()

    def run(self) -> None:
        from agent.capture import open_capture

        cap = open_capture(self.url, open_timeout_s=20, read_timeout_s=10, threads=1)
        try:
            if not cap.isOpened():
                self.error = "cannot open"
                return
            next_sample = time.monotonic()
            while not self.stop.is_set():
                if not cap.grab():
                    self.error = "stream ended"
                    return
                self.grabbed += 1
                self.opened.set()
                now = time.monotonic()
                if now >= next_sample:  # the agent's schedule (agent/source.py `_wanted`)
                    next_sample = max(next_sample + self.period, now + self.period / 2)
                    ok, _ = cap.retrieve()
                    self.retrieved += ok
        finally:
            self.opened.set()
            cap.release()


def measure(
    urls: list[str], detect_fps: float, warmup_s: float, measure_s: float
) -> dict[str, Any]:
    """The child's figures: its CPU over the interval, frames grabbed and retrieved per camera."""
    import cv2

    cv2.setNumThreads(1)  # as in the agent: the cameras are the parallelism
    stop = threading.Event()
    readers = [Reader(u, detect_fps, stop) for u in urls]
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
    g0 = [r.grabbed for r in readers]
    q0 = [r.retrieved for r in readers]
    c0, w0 = time.process_time(), time.monotonic()
    time.sleep(measure_s)
    c1, w1 = time.process_time(), time.monotonic()
    grab = [(r.grabbed - a) / (w1 - w0) for r, a in zip(readers, g0, strict=True)]
    ret = [(r.retrieved - a) / (w1 - w0) for r, a in zip(readers, q0, strict=True)]
    stop.set()
    dt, cpu = w1 - w0, c1 - c0
    frames = sum(r.grabbed - a for r, a in zip(readers, g0, strict=True))
    return {
        "n": len(urls), "measured_s": round(dt, 2), "cores": cpu / dt,
        "decode_cores_per_camera": cpu / dt / len(urls),
        "ms_per_frame": 1000 * cpu / frames if frames else None,
        "grab_fps_min": min(grab), "grab_fps_mean": sum(grab) / len(grab),
        "retrieve_fps_mean": sum(ret) / len(ret),
    }  # fmt: skip


def run_floor(tree: Path, variant: Variant, n: int, detect_fps: float, warmup_s: float,
              measure_s: float, workdir: Path) -> dict[str, Any]:  # fmt: skip
    """N fresh servers and the decode-only child of `tree`; its figures with the servers' CPU
    and whatever else the machine ran meanwhile."""
    stepdir = workdir / f"floor_{variant.name}_{n:02d}"
    stepdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.cameras_per_box.floor"]
    cmd += ["--detect-fps", f"{detect_fps:g}", "--warmup-s", f"{warmup_s:g}"]
    cmd += ["--measure-s", f"{measure_s:g}"]
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
            return {"variant": variant.name, "n": n, "error": f"no answer in {limit:.0f} s"}
        s1, m1, w1 = servers.cpu_seconds(), machine_busy_seconds(), time.monotonic()
    try:
        row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"variant": variant.name, "n": n, "error": (done.stderr or done.stdout)[-2000:]}
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
    p.add_argument("--warmup-s", type=float, default=10.0)
    p.add_argument("--measure-s", type=float, default=30.0)
    args = p.parse_args(argv)
    row = measure(args.urls, args.detect_fps, args.warmup_s, args.measure_s)
    print(json.dumps(row), flush=True)
    # Daemon threads may sit inside FFmpeg; leaving without unwinding them is what we want.
    os._exit(1 if "error" in row else 0)


if __name__ == "__main__":
    main()
