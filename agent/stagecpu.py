"""CPU seconds per camera and stage, for `siaga_agent_stage_cpu_seconds_total` (agent/metrics.py).

Why thread CPU time (`time.thread_time`) and not wall time: on a box that serves many cameras
the threads wait for each other and for the network, and what limits cameras per core is the CPU
each stage burns. Each stage is measured in the thread that runs it: decode and convert in the
capture thread (agent/source.py), preprocess, inference and track in the camera's worker. The
inference figure is the worker thread's share; onnxruntime's own pool threads, when
`[model] intra_op_threads` > 1, show only in the process's CPU.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

# decode: demux and decode every frame (grab); convert: the sampled frames to BGR (retrieve);
# preprocess: resize and normalise for the model; inference: the detector and its decoding;
# track: the motion gate, judging, the second opinion, the tracker and the counter.
STAGES: Final = ("decode", "convert", "preprocess", "inference", "track")


class StageCpu:
    """One camera's CPU seconds per stage. Each stage is added to by one thread only."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    def add(self, stage: str, seconds: float) -> None:
        """Count `seconds` of CPU to `stage`."""
        self.seconds[stage] += seconds

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Count the calling thread's CPU time inside the block to `stage`."""
        start = time.thread_time()
        try:
            yield
        finally:
            self.seconds[stage] += time.thread_time() - start
