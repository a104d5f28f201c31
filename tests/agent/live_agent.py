"""A real agent running in a thread on looping clips, with its metrics endpoint on loopback:
for tests that scrape it while it works (tests/agent/test_metrics.py, tests/deploy/)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from agent.config import AgentConfig
from agent.service import AgentService
from tests.mqtt_broker import MosquittoBroker


def agent_config(broker: MosquittoBroker, tmp: Path, clips: list[Path], *,
                 agent_id: str = "box-metrics") -> AgentConfig:  # fmt: skip
    """Looping clips, one camera each; metrics on a free loopback port."""
    return AgentConfig.model_validate({
        "agent": {"id": agent_id, "site": "Test site", "kelurahan_code": "33.74.01.1001"},
        "cameras": [{"id": f"cam{i}", "source": str(c), "loop": True}
                    for i, c in enumerate(clips)],
        "sampling": {"detect_fps": 8},
        "counting": {"window_s": 5},
        "mqtt": {"host": broker.host, "port": broker.port, "confirm": "broker"},
        "outbox": {"path": str(tmp / f"{agent_id}-outbox.sqlite3")},
        "health": {"status_interval_s": 1, "metrics_port": 0},
    })  # fmt: skip


@contextlib.contextmanager
def running_agent(cfg: AgentConfig) -> Iterator[AgentService]:
    """Run the agent until the block ends (then stop it cleanly, bounded)."""
    service = AgentService(cfg)
    runner = threading.Thread(target=service.run, name=f"agent-{cfg.agent.id}", daemon=True)
    runner.start()
    try:
        yield service
    finally:
        service.stop()
        runner.join(timeout=15)
        assert not runner.is_alive(), "the agent did not stop"


def metrics_url(service: AgentService) -> str:
    """The running agent's endpoint."""
    server = service.health.metrics
    assert server is not None, "metrics_port is not set"
    return f"http://127.0.0.1:{server.port}/metrics"
