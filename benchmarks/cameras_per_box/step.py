"""One benchmark step: N live streams, one agent, a warm-up, then a measured interval.

Everything is a difference between two readings taken at the ends of the measured interval
(counters of the metrics endpoint, CPU from /proc), so start-up, model loading and the first
reconnects are left out. A camera holds its rate when its sampled frames per second reach
95 % of detect_fps (the issue's criterion); the step passes when every camera does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

from benchmarks.cameras_per_box.agent_run import AGENT_ID, AgentProcess, Scrape, write_config
from benchmarks.cameras_per_box.procstat import load_average, machine_busy_seconds
from benchmarks.cameras_per_box.streams import StreamServers, Variant
from tests.mqtt_broker import MosquittoBroker, Subscriber, free_port

HOLD_SHARE = 0.95
STAGE_CPU = "siaga_agent_stage_cpu_seconds_total"  # {camera, stage}: newer agents only


@dataclass(frozen=True)
class StepSpec:
    """What one step runs."""

    label: str  # "before" / "after": which tree
    tree: Path
    variant: Variant
    n: int
    gate: bool
    detect_fps: float
    warmup_s: float
    measure_s: float
    model: str
    onnx_threads: int | None
    camera_lines: tuple[str, ...] = ()


def _delta(a0: Scrape, a1: Scrape, name: str) -> dict[tuple[str, str], float]:
    old = a0.get(name, {})
    return {k: v - old.get(k, 0.0) for k, v in a1.get(name, {}).items()}


def _wait(agent: AgentProcess, seconds: float) -> None:
    """Sleep, but fail at once if the agent dies meanwhile."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if agent.proc is None or agent.proc.poll() is not None:
            raise RuntimeError(f"agent exited while measured:\n{agent.log_tail()}")
        time.sleep(min(0.5, left))


def cameras(a0: Scrape, a1: Scrape, dt: float) -> dict[str, dict[str, Any]]:
    """Per-camera figures over the interval."""
    read = _delta(a0, a1, "siaga_agent_frames_read_total")
    done = _delta(a0, a1, "siaga_agent_frames_processed_total")
    inferred = _delta(a0, a1, "siaga_agent_frames_inferred_total")
    dropped = _delta(a0, a1, "siaga_agent_frames_dropped_total")
    reconnects = _delta(a0, a1, "siaga_agent_reconnects_total")
    corrupt = _delta(a0, a1, "siaga_agent_corrupt_frames_total")
    inf_sum = _delta(a0, a1, "siaga_agent_inference_seconds_sum")
    inf_n = _delta(a0, a1, "siaga_agent_inference_seconds_count")
    stage = _delta(a0, a1, STAGE_CPU)
    gauge = a1.get("siaga_agent_detect_fps", {})
    out: dict[str, dict[str, Any]] = {}
    for (cam, _), n in sorted(done.items()):
        key = (cam, "")
        out[cam] = {
            "read_fps": read.get(key, 0.0) / dt,
            "detect_fps": n / dt,
            "inferred_fps": inferred.get(key, 0.0) / dt,
            "dropped": dropped.get(key),
            "reconnects": reconnects.get(key, 0.0),
            "corrupt_frames": corrupt.get(key, 0.0),
            "inference_ms": 1000 * inf_sum.get(key, 0.0) / inf_n[key] if inf_n.get(key) else None,
            "detect_fps_gauge": gauge.get(key),
            "stage_cores": {s: v / dt for (c, s), v in stage.items() if c == cam} or None,
        }
    return out


def overloaded(status: dict[str, Any] | None) -> list[str]:
    """Cameras the agent's last status flags as overloaded (a field with "overload" in its
    name, whatever its exact spelling; none in agents without the warning)."""
    if not status:
        return []
    return sorted(cam for cam, fig in status.get("cameras", {}).items()
                  if any("overload" in k and v for k, v in fig.items()))  # fmt: skip


def summarise(spec: StepSpec, per_cam: dict[str, dict[str, Any]], cpu: dict[str, float],
              dt: float) -> dict[str, Any]:  # fmt: skip
    """The step's row: the pass/fail verdict and per-camera means."""
    fps = [c["detect_fps"] for c in per_cam.values()]
    held = len(fps) == spec.n and min(fps) >= HOLD_SHARE * spec.detect_fps
    stages: dict[str, float] = {}
    for c in per_cam.values():
        for s, v in (c["stage_cores"] or {}).items():
            stages[s] = stages.get(s, 0.0) + v / spec.n
    inf = [c["inference_ms"] for c in per_cam.values() if c["inference_ms"] is not None]
    dropped = [c["dropped"] for c in per_cam.values() if c["dropped"] is not None]
    return {
        "tree": spec.label, "variant": spec.variant.name, "gate": spec.gate, "n": spec.n,
        "held": held, "measured_s": round(dt, 2),
        "detect_fps_min": min(fps, default=0.0), "detect_fps_mean": mean(fps) if fps else 0.0,
        "read_fps_min": min((c["read_fps"] for c in per_cam.values()), default=0.0),
        "inferred_fps_mean": mean(c["inferred_fps"] for c in per_cam.values()) if fps else 0.0,
        "agent_cores": cpu["agent"] / dt, "cores_per_camera": cpu["agent"] / dt / spec.n,
        "stage_cores_per_camera": stages or None,
        # What no stage's thread accounts for: other threads (onnxruntime's pool spinning
        # between runs, the publisher, the metrics server) and the interpreter.
        "unattributed_cores_per_camera": cpu["agent"] / dt / spec.n - sum(stages.values())
        if stages
        else None,
        "server_cores": cpu["servers"] / dt,
        "other_cores": max(0.0, cpu["machine"] - cpu["agent"] - cpu["servers"]) / dt,
        "inference_ms_mean": mean(inf) if inf else None,
        "dropped": sum(dropped) if dropped else None,
    }  # fmt: skip


def run_step(spec: StepSpec, broker: MosquittoBroker, workdir: Path) -> dict[str, Any]:
    """Start N servers and the agent, warm up, measure, stop everything; the step's figures."""
    gate = "gate" if spec.gate else "nogate"
    stepdir = workdir / f"{spec.label}_{spec.variant.name}_{gate}_{spec.n:02d}"
    stepdir.mkdir(parents=True, exist_ok=True)
    topic = f"siaga/v1/{AGENT_ID}/status"
    status = Subscriber(broker, [topic], client_id=f"bench-status-{stepdir.name}")
    with StreamServers(spec.variant, spec.n, stepdir / "servers") as servers, status:
        metrics_port = free_port()
        config = write_config(
            stepdir / "agent.toml", servers.urls, broker_port=broker.port,
            metrics_port=metrics_port, detect_fps=spec.detect_fps, gate=spec.gate,
            model=spec.model, onnx_threads=spec.onnx_threads,
            camera_lines=list(spec.camera_lines),
        )  # fmt: skip
        with AgentProcess(spec.tree, config, metrics_port, servers.agent_env) as agent:
            served_at_start = agent.wait_ready(spec.n)
            _wait(agent, spec.warmup_s)
            load = load_average()
            a0, t0 = agent.scrape(), time.monotonic()
            c0 = (agent.cpu_seconds(), servers.cpu_seconds(), machine_busy_seconds())
            _wait(agent, spec.measure_s)
            a1, t1 = agent.scrape(), time.monotonic()
            c1 = (agent.cpu_seconds(), servers.cpu_seconds(), machine_busy_seconds())
            memory, alive = agent.memory(), servers.alive()
            warnings = agent.warnings()
        copied = servers.copied()
        payloads = status.payloads(topic)
    dt = t1 - t0
    cpu = dict(zip(("agent", "servers", "machine"), (b - a for a, b in zip(c0, c1, strict=True)),
                   strict=True))  # fmt: skip
    per_cam = cameras(a0, a1, dt)
    last = json.loads(payloads[-1]) if payloads else None
    row = summarise(spec, per_cam, cpu, dt)
    row.update(memory)
    row.update({
        "load_avg_1m": load, "cameras_served_at_start": served_at_start,
        "servers_copy": copied, "servers_alive_at_end": alive,
        "stage_split": row["stage_cores_per_camera"] is not None,
        "status_overloaded": overloaded(last), "log_warnings": len(warnings),
        "log_overload_lines": sum("overload" in w.lower() for w in warnings),
        "cameras": per_cam,
    })  # fmt: skip
    return row
