"""The whole agent through a ≥30 s broker outage, a SIGKILL, and a full outbox."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from agent.config import load_config
from agent.outbox import Outbox
from agent.service import AgentService
from siaga.wire import CountsMessage, StatusMessage
from tests.agent.test_service import SIAGA, write_config
from tests.agent.test_worker import make_clip
from tests.mqtt_broker import MosquittoBroker, Subscriber

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clip(shared: Path, tmp_path: Path) -> Path:
    return make_clip(shared / "video" / "916241958_mask.mp4", tmp_path / "a.mp4", frames=40, fps=25)


def stored_seqs(sub: Subscriber) -> dict[int, CountsMessage]:
    """What a store keyed on (agent_id, seq) would hold, and a check that copies agree."""
    store: dict[int, CountsMessage] = {}
    for m in sub.snapshot():
        if m.topic.endswith("/counts"):
            msg = CountsMessage.model_validate_json(m.payload)
            assert store.setdefault(msg.seq, msg) == msg, "two different messages share a seq"
    return store


@pytest.mark.slow
def test_broker_down_30s_every_window_delivered(mosquitto: MosquittoBroker, clip, tmp_path):
    cfg_file = write_config(tmp_path, mosquitto, [clip], loop=True)
    # Backoff capped at 2 s so the test need not wait out the production cap of 60 s.
    cfg_file.write_text(cfg_file.read_text().replace("[mqtt]", "[mqtt]\nreconnect_max_s = 2"))
    cfg = load_config(cfg_file)
    sub = Subscriber(mosquitto, ["siaga/v1/+/+/counts"], persistent=True, client_id="store").start()
    service = AgentService(cfg)
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    try:
        assert sub.wait_for(lambda ms: len(ms) >= 1, 20), "no window before the outage"
        mosquitto.stop()
        time.sleep(32)  # ≥ 30 s offline: ~6 windows of 5 s are produced meanwhile
        queued = service.outbox.depth()
        mosquitto.start()
        deadline = time.monotonic() + 20
        while service.outbox.depth() > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        service.stop()
        runner.join(10)
    assert queued >= 5, f"only {queued} windows queued during the outage"
    last = Outbox(tmp_path / "outbox.sqlite3", max_messages=100).last_seq() or 0
    assert sub.wait_for(lambda ms: len({m.payload for m in ms}) >= last, 15)
    sub.stop()
    store = stored_seqs(sub)
    assert sorted(store) == list(range(1, last + 1)), "a seq is missing"


@pytest.mark.slow
def test_sigkill_and_restart_continue_seq_without_loss(mosquitto: MosquittoBroker, clip, tmp_path):
    cfg = write_config(tmp_path, mosquitto, [clip], loop=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def agent() -> subprocess.Popen[bytes]:
        return subprocess.Popen([*SIAGA, "agent", "run", "--config", str(cfg)], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    with Subscriber(mosquitto, ["siaga/v1/#"]) as sub:
        first = agent()
        try:
            assert sub.wait_for(lambda ms: sum(m.topic.endswith("/counts") for m in ms) >= 2, 40)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert sub.wait_for(lambda ms: any(m.payload == b"offline" for m in ms), 60)  # last will
        before = max(stored_seqs(sub))
        second = agent()
        try:
            assert sub.wait_for(lambda ms: max(stored_seqs(sub), default=0) >= before + 2, 40)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(10) == 0
        time.sleep(0.5)
    store = stored_seqs(sub)
    last = Outbox(tmp_path / "outbox.sqlite3", max_messages=100).last_seq() or 0
    assert sorted(store) == list(range(1, last + 1)), "seq must continue with nothing missing"


def test_full_outbox_drops_are_counted_in_status_and_disk_is_bounded(
    mosquitto: MosquittoBroker, clip, tmp_path
):
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path, max_messages=10)
    payload = b"x" * 700
    for _ in range(3000):
        box.enqueue("siaga/v1/box-test/old/counts", lambda seq: payload)
    box.close()
    size = sum(f.stat().st_size for f in tmp_path.glob("outbox.sqlite3*"))
    assert size < 2_000_000, f"outbox files hold {size} bytes for 10 rows"
    text = write_config(tmp_path, mosquitto, [clip]).read_text()
    cfg_file = tmp_path / "agent.toml"
    cfg_file.write_text(text.replace("[outbox]", "[outbox]\nmax_messages = 10"))
    with Subscriber(mosquitto, ["siaga/v1/+/status"]) as sub:
        AgentService(load_config(cfg_file)).run(exit_when_sources_end=True)
        assert sub.wait_for(lambda ms: bool(ms), 5)
        status = StatusMessage.model_validate_json(sub.snapshot()[-1].payload)
    assert status.dropped == 2990 and status.outbox_depth == 0
