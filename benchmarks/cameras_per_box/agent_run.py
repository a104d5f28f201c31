"""One real agent process (`python -m siaga agent run`) from a chosen source tree, and its metrics.

Why a process and not an AgentService in this one: what a box pays is the whole daemon (its
capture threads, the GIL they share, its publisher), measured from outside as a technician would
(/proc, the Prometheus endpoint, the retained status). `PYTHONPATH=<tree>` makes the same
interpreter and libraries run another commit's code (`git archive <commit> | tar -x -C DIR`), so
the before/after figures come from one invocation on one machine.

The config sets only keys that every tree knows (unknown keys are rejected), unless the caller
adds camera lines for the tree under test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from types import TracebackType

from prometheus_client.parser import text_string_to_metric_families

from benchmarks.cameras_per_box.procstat import cpu_seconds, memory_mb

AGENT_ID = "bench-box"
READY_TIMEOUT_S = 60.0
# name -> {(camera, stage) -> value}; stage is "" for figures without one.
Scrape = dict[str, dict[tuple[str, str], float]]


def write_config(
    path: Path,
    urls: list[str],
    *,
    broker_port: int,
    metrics_port: int,
    detect_fps: float,
    gate: bool,
    model: str,
    onnx_threads: int | None,
    camera_lines: list[str],
) -> Path:
    """An agent.toml: one camera per URL, loopback broker, metrics endpoint, outbox beside it."""
    extra = "".join(f"{line}\n" for line in camera_lines)
    cameras = "".join(
        f'[[cameras]]\nid = "cam{i:02d}"\nsource = "{url}"\n{extra}\n' for i, url in enumerate(urls)
    )
    threads = "" if onnx_threads is None else f"intra_op_threads = {onnx_threads}\n"
    path.write_text(f"""[agent]
id = "{AGENT_ID}"
site = "cameras-per-box benchmark"
kelurahan_code = "33.74.01.1001"

{cameras}[model]
name = "{model}"
{threads}
[sampling]
detect_fps = {detect_fps:g}
motion_gate = {"true" if gate else "false"}

[mqtt]
host = "127.0.0.1"
port = {broker_port}
confirm = "broker"

[outbox]
path = "{path.parent / "outbox.sqlite3"}"

[health]
status_interval_s = 5
metrics_port = {metrics_port}
metrics_host = "127.0.0.1"
""")
    return path


def parse_metrics(text: str) -> Scrape:
    """The agent's samples by name, keyed by (camera, stage) labels."""
    out: Scrape = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.labels.get("camera", ""), s.labels.get("stage", ""))
            out[s.name][key] = s.value
    return dict(out)


class AgentProcess:
    """The agent daemon of `tree` with `config`; a context manager that always stops it."""

    def __init__(self, tree: Path, config: Path, metrics_port: int,
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        self.tree, self.config, self.metrics_port = tree, config, metrics_port
        self.env = env or {}
        self.log = config.parent / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> AgentProcess:
        env = dict(os.environ, PYTHONPATH=str(self.tree), **self.env)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "siaga", "agent", "run", "--config", str(self.config)],
                cwd=self.config.parent, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        return self

    def log_tail(self, chars: int = 1500) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def scrape(self) -> Scrape:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return parse_metrics(resp.read().decode())

    def wait_ready(self, cameras: int, timeout_s: float = READY_TIMEOUT_S) -> int:
        """Until every camera has delivered a frame and been sampled, or timeout_s; returns
        how many cameras had been sampled (an overloaded agent may starve one from the start;
        that step is then measured and fails). Raises with the log if the agent exits."""
        deadline = time.monotonic() + timeout_s
        served = 0
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"agent exited during start-up:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                done = self.scrape().get("siaga_agent_frames_processed_total", {})
                served = sum(v > 0 for v in done.values())
                if served == cameras:
                    return served
            time.sleep(0.5)
        return served

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def memory(self) -> dict[str, float]:
        return memory_mb(self.pid)

    def warnings(self) -> list[str]:
        """The WARNING and ERROR lines of its log (an overload warning among them)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [ln for ln in text.splitlines() if "WARNING" in ln or "ERROR" in ln]

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> AgentProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
