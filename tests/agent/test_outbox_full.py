"""Issue 14: the disk under the outbox fills up, then frees; the whole agent against Mosquitto.

The camera loop must live, the status must say what is wrong, the windows closed meanwhile must
wait in memory and reach the outbox with the next seqs once space returns, by themselves.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from agent.config import load_config
from agent.service import AgentService
from siaga.wire import StatusMessage
from tests.agent.small_disk import fill, small_disk
from tests.agent.test_resilience import stored_seqs
from tests.agent.test_service import write_config
from tests.agent.test_worker import make_clip
from tests.mqtt_broker import MosquittoBroker, Subscriber, wait_until


def statuses(sub: Subscriber) -> list[StatusMessage]:
    return [StatusMessage.model_validate_json(m.payload) for m in sub.snapshot()
            if m.topic.endswith("/status")]  # fmt: skip


@pytest.mark.slow
def test_disk_full_then_freed_loop_lives_and_seq_has_no_hole(
    mosquitto: MosquittoBroker, shared: Path, tmp_path: Path
):
    clip = make_clip(shared / "video" / "916241958_mask.mp4", tmp_path / "a.mp4", frames=40, fps=25)
    with small_disk(tmp_path / "disk", size_kib=1024) as disk:
        text = write_config(tmp_path, mosquitto, [clip], loop=True).read_text()
        text = text.replace(str(tmp_path / "outbox.sqlite3"), str(disk / "outbox.sqlite3"))
        # Backoff capped at 1 s: the publisher reconnects after its acks fail on the full disk.
        cfg_file = tmp_path / "agent.toml"
        cfg_file.write_text(text.replace("[mqtt]", "[mqtt]\nreconnect_max_s = 1"))
        sub = Subscriber(mosquitto, ["siaga/v1/#"]).start()
        service = AgentService(load_config(cfg_file))
        runner = threading.Thread(target=service.run, daemon=True)
        runner.start()
        try:
            assert sub.wait_for(lambda ms: any(m.topic.endswith("/counts") for m in ms), 25)
            filler = fill(disk)
            assert wait_until(lambda: service.holding.stats().held >= 2, 30), "nothing held"
            worker = service.workers[0]
            assert worker.thread.is_alive(), "the camera loop died on a full disk"
            assert sub.wait_for(lambda ms: any(s.held >= 2 for s in statuses(sub)), 5)
            full = next(s for s in reversed(statuses(sub)) if s.held >= 2)
            assert full.outbox_error is not None and "disk is full" in full.outbox_error
            held = service.holding.stats().held
            seq_before = service.outbox.last_seq() or 0
            filler.unlink()
            t0 = time.monotonic()
            assert wait_until(lambda: service.holding.stats().held == 0, 10), "no recovery"
            recovery_s = time.monotonic() - t0
            assert (service.outbox.last_seq() or 0) >= seq_before + held
            # Windows go on closing after the recovery, and the status clears its error.
            resumed = service.outbox.last_seq() or 0
            assert wait_until(lambda: (service.outbox.last_seq() or 0) > resumed, 15)
            assert sub.wait_for(lambda ms: statuses(sub)[-1].outbox_error is None, 5)
            assert worker.thread.is_alive() and worker.health.window_errors == 0
        finally:
            service.stop()
            runner.join(10)
        last = service.outbox.last_seq() or 0
        assert sub.wait_for(lambda ms: len(stored_seqs(sub)) >= last, 15), "not all delivered"
        sub.stop()
    store = stored_seqs(sub)
    assert sorted(store) == list(range(1, last + 1)), "a seq is missing"
    assert statuses(sub)[-1].dropped == 0
    print(f"held {held} windows; recovered {recovery_s:.2f} s after space returned")
