"""Nothing acknowledged is ever lost: the agent's real delivery (agent.outbox + agent.publisher)
against the real central service on a real Mosquitto and SQLite.

- A broker crash that loses its database (kill -9, persistence file deleted) while the collector is
  down: with central's end-to-end confirmation every window is stored once; with the broker's
  PUBACK alone (the old behaviour, kept as the contrast) they are gone.
- An outbox wiped mid-run (new SD card): the box starts again at seq 1 under a new epoch and every
  window after the reset is stored; a payload reusing a stored key is recorded as a conflict.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from agent.config import MqttSection as AgentMqtt
from agent.outbox import Outbox, Stamp
from agent.publisher import Publisher
from central.service import CentralService
from siaga.wire import CountsMessage, counts_topic
from tests.central.summary_fixtures import A, counts_message
from tests.central.test_service import agent_publish, make_config
from tests.conftest import CENTRAL_BROKER_CONFIG
from tests.mqtt_broker import MosquittoBroker, wait_until

pytestmark = pytest.mark.slow
AGENT = "box1"
# Windows end a minute apart, aligned, the last of 2000 an hour ago: plausible to central.
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2060)


class Box:
    """An edge box's delivery: its outbox and publisher, as agent.service wires them."""

    def __init__(self, broker: MosquittoBroker, path: Path, *,
                 confirm: Literal["central", "broker"] = "central") -> None:  # fmt: skip
        cfg = AgentMqtt(host=broker.host, port=broker.port, tls=False, confirm=confirm,
                        confirm_timeout_s=5, reconnect_min_s=0.1, reconnect_max_s=0.5,
                        max_inflight=100)  # fmt: skip
        self.confirm = confirm
        self.outbox = Outbox(path)
        self.publisher = Publisher(cfg, agent_id=AGENT, outbox=self.outbox)
        self.publisher.start()

    def emit(self, n: int) -> list[int]:
        """n count windows, built as agent.service.emit builds them."""
        seqs = []
        for _ in range(n):
            def build(st: Stamp) -> bytes:
                end = T0 + timedelta(seconds=60 * st.seq)
                msg = counts_message(AGENT, "cam1", A, end, st.seq, 3, 2, 1)
                extra = ({"epoch": st.epoch, "first_unconfirmed": st.first_unconfirmed}
                         if self.confirm == "central" else {})  # fmt: skip
                return CountsMessage.model_validate(
                    {**msg.model_dump(by_alias=True), **extra}).to_payload()

            seqs.append(self.outbox.enqueue_stamped(counts_topic(AGENT, "cam1"), build))
        self.publisher.notify()
        return seqs

    def close(self) -> None:
        self.publisher.stop(timeout_s=1.0)
        self.outbox.close()


@pytest.fixture
def boxes() -> Iterator[Callable[..., Box]]:
    made: list[Box] = []

    def make(*args: Any, **kw: Any) -> Box:
        made.append(Box(*args, **kw))
        return made[-1]

    yield make
    for b in made:
        b.close()


class Central:
    """The central service in a thread, stopped cleanly."""

    def __init__(self, broker: MosquittoBroker, tmp_path: Path) -> None:
        self.svc = CentralService(make_config(broker, tmp_path))
        self.thread = threading.Thread(target=self.svc.run, daemon=True)
        self.thread.start()
        assert self.svc.collector.wait_ready(10)

    def stop(self) -> None:
        self.svc.stop()
        self.thread.join(15)


@pytest.fixture
def central_broker(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    return mosquitto_factory(extra_config=CENTRAL_BROKER_CONFIG)


@pytest.mark.parametrize("confirm", ["central", "broker"])
def test_broker_crash_losing_its_database_loses_no_window(
    confirm: str, central_broker: MosquittoBroker, boxes: Callable[..., Box], tmp_path: Path,
) -> None:  # fmt: skip
    n = 2000
    central = Central(central_broker, tmp_path)
    central.stop()  # its persistent session now queues at the broker
    box = boxes(central_broker, tmp_path / "outbox.sqlite3", confirm=confirm)
    box.emit(n)
    # Every window acknowledged by the broker (PUBACK), none stored yet.
    assert wait_until(lambda: box.publisher.stats().acked >= n, 60), box.publisher.stats()
    central_broker.kill()
    for f in central_broker.workdir.glob("mosquitto.db*"):
        f.unlink()  # the broker's database is lost with it
    t0 = time.monotonic()
    central_broker.start()
    central = Central(central_broker, tmp_path)
    try:
        store = central.svc.store
        if confirm == "broker":
            # The contrast: PUBACKed windows left the box, and the broker lost them.
            time.sleep(3)
            assert store.count_rows() == 0 and box.outbox.depth() == 0
            return
        assert wait_until(lambda: box.outbox.depth() == 0, 90), (
            box.outbox.depth(), store.count_rows(), box.publisher.stats())
        recovery_s = time.monotonic() - t0
        assert store.count_rows() == n
        assert store.stored_keys() == {(AGENT, s) for s in range(1, n + 1)}
        assert store.gaps() == [] and store.reject_totals() == {}
        print(f"\n{n} windows stored once after the broker lost them; recovered in "
              f"{recovery_s:.1f} s; {box.publisher.stats().resends} re-send round(s)")
    finally:
        central.stop()


def test_wiped_outbox_starts_a_new_epoch_and_conflicts_are_recorded(
    central_broker: MosquittoBroker, boxes: Callable[..., Box], tmp_path: Path,
) -> None:  # fmt: skip
    central = Central(central_broker, tmp_path)
    try:
        store = central.svc.store
        path = tmp_path / "outbox.sqlite3"
        box = boxes(central_broker, path)
        box.emit(20)
        assert wait_until(lambda: box.outbox.depth() == 0, 30), box.publisher.stats()
        old_epoch = box.outbox.epoch
        box.close()
        for f in tmp_path.glob("outbox.sqlite3*"):
            f.unlink()  # a new SD card: the outbox is gone, seq starts again at 1
        box = boxes(central_broker, path)
        assert box.outbox.epoch != old_epoch
        assert box.emit(15) == list(range(1, 16))
        assert wait_until(lambda: box.outbox.depth() == 0, 30), box.publisher.stats()
        keys = store.stored_epoch_keys(AGENT)
        assert {s for _a, e, s in keys if e == old_epoch} == set(range(1, 21))
        assert {s for _a, e, s in keys if e == box.outbox.epoch} == set(range(1, 16))
        assert store.gaps() == []

        # Another payload under a stored key (a cloned box, a forgery): kept out and recorded.
        forged = counts_message(AGENT, "cam1", A, T0 + timedelta(minutes=3), 3, 500, 0, 500)
        forged = CountsMessage.model_validate({**forged.model_dump(by_alias=True),
                                               "epoch": box.outbox.epoch,
                                               "first_unconfirmed": 3})  # fmt: skip
        agent_publish(central_broker, [forged])
        assert wait_until(lambda: store.reject_totals().get("seq_conflict") == 1, 10)
        assert store.count_rows() == 35
        (reject,) = store.recent_rejects()
        assert "people_seen: 3 → 500" in reject.detail, reject.detail
    finally:
        central.stop()
