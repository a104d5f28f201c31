"""onnxruntime session options: threads, providers, graph optimisation."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import onnxruntime as ort
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


class RuntimeConfig(BaseModel):
    """How inference sessions are built (one config section)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intra_op_threads: int = Field(default=2, ge=0, le=256)
    inter_op_threads: int = Field(default=1, ge=0, le=256)
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    # onnxruntime's pool threads spin after each parallel section waiting for more work: fast
    # for one model run back to back, but on an agent whose cameras each infer 5 times a second
    # the spinning doubled the CPU per inference with 2 threads (25.9 vs 11.8 ms, issue 18).
    allow_spinning: bool = True


def choose_providers(requested: tuple[str, ...]) -> list[str]:
    """Keep the requested providers that this onnxruntime build has; CPU is always last."""
    available = set(ort.get_available_providers())
    chosen = [p for p in requested if p in available]
    for p in requested:
        if p not in available:
            log.warning("execution provider %s is not available here; using %s", p, chosen)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def make_session(path: Path, config: RuntimeConfig) -> ort.InferenceSession:
    """Build an inference session for one model file."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = config.intra_op_threads
    opts.inter_op_num_threads = config.inter_op_threads
    opts.graph_optimization_level = _OPT_LEVELS[config.graph_optimization]
    opts.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if config.allow_spinning else "0"
    )
    opts.log_severity_level = 3  # exported graphs often carry unused initialisers: not news
    return ort.InferenceSession(
        str(path), sess_options=opts, providers=choose_providers(config.providers)
    )
