"""A batch the database keeps refusing (not an outage) is salvaged item by item."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import StatementError

from central.ingest.salvage import is_transient
from central.store import schema
from central.store.engine import make_engine
from central.store.writes import Store
from siaga.wire import counts_topic
from tests.central.ingest.test_ingest import (
    WAIT_S,
    Factory,
    central_config,
    counts_message,
    publish,
    settled,
)
from tests.mqtt_broker import MosquittoBroker, wait_until


class RefusingStore(Store):
    """A store whose driver refuses any write holding a count of agent `poison`."""

    def write_batch(self, **kwargs: Any) -> int:
        if any(r.agent_id == "poison" for r in kwargs.get("counts", ())):
            raise StatementError("value out of range", "INSERT", {}, ValueError("bad value"))
        return super().write_batch(**kwargs)


def test_a_refused_message_becomes_a_reject_and_the_rest_is_stored(
    central_mosquitto: MosquittoBroker, tmp_path: Any, collector_factory: Factory
) -> None:
    url = f"sqlite:///{tmp_path}/r.sqlite3"
    Store.open(url).close()
    store = RefusingStore(make_engine(url))
    c = collector_factory(central_config(central_mosquitto, url, batch_max_wait_ms=300), store)
    assert c.wait_ready(10)
    good = [counts_message("box1", seq) for seq in range(20)]
    bad = counts_message("poison", 0)
    msgs = [(counts_topic(m.agent_id, m.camera_id), m.to_payload(), False) for m in good]
    msgs.insert(10, (counts_topic("poison", "cam1"), bad.to_payload(), False))
    publish(central_mosquitto, msgs)
    assert wait_until(settled(c, 21), WAIT_S), c.metrics()
    m = c.metrics()
    assert m["stored"] == 20 and m["acked"] == 21, m  # every message stored or recorded, acked
    assert m["rejected"].get("internal_error") == 1, m
    assert store.stored_keys() == {("box1", s) for s in range(20)}
    with store.engine.connect() as conn:
        rows = conn.execute(select(schema.rejects.c.topic, schema.rejects.c.reason)).all()
    assert rows == [("siaga/v1/poison/cam1/counts", "internal_error")]


def test_outages_are_transient_and_refusals_are_not() -> None:
    from sqlalchemy.exc import IntegrityError, OperationalError

    assert is_transient(OperationalError("SELECT", {}, Exception("database is locked")))
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(StatementError("bad", "INSERT", {}, ValueError("x")))
    assert not is_transient(IntegrityError("INSERT", {}, Exception("constraint")))
