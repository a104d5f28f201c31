"""Alert publishing: QoS 1 on a real Mosquitto, and store-and-forward across a broker outage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from central.rules import (
    AlertStore,
    Bed,
    Figures,
    Rules,
    RulesEngine,
    evaluate,
    mqtt_publisher,
    mqtt_sender,
)
from central.store.engine import make_engine
from central.store.migrations import migrate
from siaga.wire import DEFAULT_PREFIX, alerts_topic
from tests.mqtt_broker import MosquittoBroker, Subscriber, wait_until

NOW = datetime(2021, 7, 10, 5, 0, tzinfo=UTC)  # 12:00 in Semarang


# ---- publishing on a real Mosquitto ----


def test_alert_published_once_and_resolved_once(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/a.sqlite3")
    migrate(engine)
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="rules-pub",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    topic = alerts_topic()
    try:
        with Subscriber(mosquitto, [topic]) as sub:
            rules = only_beds()
            publish = mqtt_publisher(client, DEFAULT_PREFIX)
            engine_ = RulesEngine(engine, rules)
            hot = Figures(beds=(Bed("rs-1", "RS Satu", 10, 7),))
            cold = Figures(beds=(Bed("rs-1", "RS Satu", 10, 1),))
            for i, figs in enumerate((hot, hot, cold, cold)):
                t = NOW + timedelta(minutes=i)
                events = engine_.store.apply(evaluate(figs, rules, t), t)
                for e in events:
                    assert publish(e)
            assert sub.wait_for(lambda m: len(m) >= 4, 5.0)
            assert not wait_until(lambda: len(sub.snapshot()) > 4, 0.5)
            msgs = [json.loads(p) for p in sub.payloads(topic)]
    finally:
        client.disconnect()
        client.loop_stop()
        engine.dispose()
    for area in ("city", "hospital/rs-1"):  # each: published once, resolved once
        mine = [m for m in msgs if m["area_code"] == area]
        assert [(m["event"], m["state"]) for m in mine] == [
            ("open", "open"), ("resolve", "resolved")]  # fmt: skip
    msgs = [m for m in msgs if m["area_code"] == "hospital/rs-1"]
    assert msgs[0]["schema"] == "siaga.alert/1" and msgs[0]["id"] == msgs[1]["id"]
    assert msgs[0]["rule"] == "bed_occupancy" and msgs[0]["area_code"] == "hospital/rs-1"
    assert msgs[0]["figures"]["occupancy"] == 0.7 and msgs[1]["resolved_at"] is not None


def only_beds() -> Rules:
    """Only the bed rule (one hospital: city-wide has the same figures, so two alerts)."""
    return Rules.model_validate(
        {
            "low_compliance": {"enabled": False},
            "mask_stock": {"enabled": False},
            "ppkm": {"enabled": False},
        }
    )


# ---- store-and-forward: pending events survive a broker outage ----


def test_pending_event_merges_and_clears(engine: Engine) -> None:
    store, rules = AlertStore(engine), only_beds()
    hot = Figures(beds=(Bed("rs-1", "RS Satu", 10, 7),))
    crit = Figures(beds=(Bed("rs-1", "RS Satu", 10, 9),))
    cold = Figures(beds=(Bed("rs-1", "RS Satu", 10, 1),))
    t = [NOW + timedelta(minutes=i) for i in range(5)]

    def pending() -> list[tuple[str, str, str]]:
        return [(e.event, e.area_code, e.severity) for e in store.pending()]

    store.apply(evaluate(hot, rules, t[0]), t[0])
    store.apply(evaluate(crit, rules, t[1]), t[1])  # opened and updated, none sent: still "open"
    assert pending() == [("open", "city", "critical"), ("open", "hospital/rs-1", "critical")]
    sent = store.pending()
    store.apply(evaluate(hot, rules, t[2]), t[2])  # changed after sending: "open" still pending
    assert store.mark_published(sent, t[2]) == 2  # (the event sent was "open")
    assert pending() == []
    store.apply(evaluate(crit, rules, t[3]), t[3])
    assert pending() == [("update", "city", "critical"), ("update", "hospital/rs-1", "critical")]
    stale = store.pending()
    store.apply(evaluate(cold, rules, t[4]), t[4])
    assert store.mark_published(stale, t[4]) == 0  # "update" sent, but "resolve" now pending
    assert [e.event for e in store.pending()] == ["resolve", "resolve"]
    rows = store.rows()
    assert all(r["published_at"] == t[2] and r["pending_event"] == "resolve" for r in rows)
    assert RulesEngine(engine, rules).flush() == 0  # no sender: nothing sent, nothing cleared


def _at_least(sub: Subscriber, n: int) -> bool:
    return len(sub.snapshot()) >= n


def test_alerts_raised_while_broker_down_are_published_once_back(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/a.sqlite3")
    migrate(engine)
    up = {"connected": False}
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="rules-saf",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.reconnect_delay_set(min_delay=0.05, max_delay=0.2)  # type: ignore[arg-type]
    client.on_connect = lambda *a: up.update(connected=not a[3].is_failure)
    client.on_disconnect = lambda *a: up.update(connected=False)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    topic = alerts_topic()
    rules = only_beds()
    rs = RulesEngine(engine, rules, mqtt_sender(client, DEFAULT_PREFIX, lambda: up["connected"],
                                                wait_s=3.0))  # fmt: skip
    hot = Figures(beds=(Bed("rs-1", "RS Satu", 10, 7),))
    cold = Figures(beds=(Bed("rs-1", "RS Satu", 10, 1),))
    sub = Subscriber(mosquitto, [topic], client_id="alert-dashboard", persistent=True).start()
    try:
        assert wait_until(lambda: up["connected"], 5.0)
        for i, (figs, expected) in enumerate(((hot, "open"), (cold, "resolve"))):
            mosquitto.stop()
            assert wait_until(lambda: not up["connected"], 5.0)
            t = NOW + timedelta(minutes=i)
            events = rs.store.apply(evaluate(figs, rules, t), t)
            assert [e.event for e in events] == [expected] * 2
            assert rs.flush(t) == 0  # the broker is down: kept
            assert len(rs.store.pending()) == 2
            mosquitto.start()
            assert wait_until(lambda: up["connected"], 10.0)
            assert rs.flush(t) == 2  # acknowledged by the broker (QoS 1)
            assert rs.store.pending() == [] and rs.flush(t) == 0
            assert wait_until(partial(_at_least, sub, 2 * (i + 1)), 10.0)
        assert not wait_until(lambda: len(sub.snapshot()) > 4, 0.5)  # each event exactly once
        msgs = [json.loads(p) for p in sub.payloads(topic)]
    finally:
        sub.stop()
        client.disconnect()
        client.loop_stop()
        engine.dispose()
    assert sorted((m["area_code"], m["event"], m["state"]) for m in msgs) == [
        ("city", "open", "open"), ("city", "resolve", "resolved"),
        ("hospital/rs-1", "open", "open"), ("hospital/rs-1", "resolve", "resolved"),
    ]  # fmt: skip
    assert all(r["published_at"] is not None for r in AlertStore(engine).rows())
