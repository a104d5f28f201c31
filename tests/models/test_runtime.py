"""onnxruntime session options (models/runtime.py)."""

from __future__ import annotations

from pathlib import Path

from models.runtime import RuntimeConfig, make_session

MODEL = Path(__file__).resolve().parents[2] / "models" / "siaga_facemask_v1.onnx"


def test_spinning_is_on_by_default_and_the_agent_turns_it_off():
    from agent.config import AgentConfig
    from agent.service import _registry_runtime

    def spinning(config: RuntimeConfig) -> str:
        opts = make_session(MODEL, config).get_session_options()
        return str(opts.get_session_config_entry("session.intra_op.allow_spinning"))

    assert spinning(RuntimeConfig()) == "1"
    cfg = AgentConfig.model_validate({
        "agent": {"id": "a", "site": "s", "kelurahan_code": "33.74.01.1001"},
        "cameras": [{"id": "c", "source": "synthetic:"}],
    })  # fmt: skip
    runtime = _registry_runtime(cfg)[1]
    assert runtime.allow_spinning is False and spinning(runtime) == "0"
