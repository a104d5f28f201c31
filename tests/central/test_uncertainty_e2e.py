"""Calibration to figures end to end: an agent's retained status names a camera's calibration
and confusion, its counts arrive over Mosquitto, central's published summaries carry the
interval and the corrected compliance for that camera, and mark the other as uncalibrated."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.service import CentralService
from siaga.wire import (
    CameraCalibration,
    CameraHealth,
    DetectorConfusion,
    ModelInfo,
    StatusMessage,
    counts_topic,
    status_topic,
)
from tests.central.summary_fixtures import A, counts_message
from tests.central.test_service import make_config
from tests.mqtt_broker import MosquittoBroker, Subscriber, wait_until

CONFUSION = {"mask": {"masked": 8000, "unmasked": 1000, "missed": 1000},
             "no_mask": {"masked": 2000, "unmasked": 6000, "missed": 2000}}  # fmt: skip


def publish(broker: MosquittoBroker, items: list[tuple[str, bytes, bool]]) -> None:
    """Publish (topic, payload, retain) as the agent box1 would, QoS 1, waiting for PUBACKs."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="box1", protocol=mqtt.MQTTv5)
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        for info in [c.publish(t, p, qos=1, retain=r) for t, p, r in items]:
            info.wait_for_publish(timeout=5)
    finally:
        c.disconnect()
        c.loop_stop()


def test_status_calibration_reaches_the_published_summaries(mosquitto, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    cal = CameraCalibration(version="v3", confusion=DetectorConfusion.model_validate(CONFUSION))
    health = CameraHealth(fps=5.0, inference_ms=9.0, reconnects=0, stalls=0, connected=True)
    status = StatusMessage(
        agent_id="box1", time=now, version="0.1", uptime_s=5.0,
        model=ModelInfo(name="m", version="1", sha256="0" * 64), outbox_depth=0, dropped=0,
        cameras={"cam1": health.model_copy(update={"calibration": cal}), "cam2": health},
    )  # fmt: skip
    # cam1 calls 588 of 1,000 masked (truly 50 % behind this detector), cam2 90 of 100.
    # (two minutes: central finds over 600 people a minute on one camera implausible)
    windows = [counts_message("box1", "cam1", A, now - timedelta(minutes=1), 1, 500, 294, 206),
               counts_message("box1", "cam1", A, now, 2, 500, 294, 206),
               counts_message("box1", "cam2", A, now, 3, 100, 90, 10)]  # fmt: skip
    svc = CentralService(make_config(mosquitto, tmp_path))
    runner = threading.Thread(target=svc.run)
    with Subscriber(mosquitto, ["siaga/v1/summary/#"]) as sub:
        runner.start()
        try:
            assert svc.collector.wait_ready(10)
            publish(mosquitto, [(status_topic("box1"), status.to_payload(), True)]
                    + [(counts_topic("box1", w.camera_id), w.to_payload(), False)
                       for w in windows])  # fmt: skip

            def latest(topic: str) -> dict | None:
                got = [m for m in sub.snapshot() if m.topic == topic and m.payload]
                return json.loads(got[-1].payload) if got else None

            def corrected_out() -> bool:
                p = latest("siaga/v1/summary/camera/box1/cam1")
                return p is not None and p["periods"]["recent"]["corrected"] is not None

            assert wait_until(corrected_out, timeout_s=30)
        finally:
            svc.stop()
            runner.join(timeout=20)
    cam1 = latest("siaga/v1/summary/camera/box1/cam1")
    cam2 = latest("siaga/v1/summary/camera/box1/cam2")
    kel = latest(f"siaga/v1/summary/kelurahan/{A}")
    assert cam1 is not None and cam2 is not None and kel is not None
    assert cam1["calibration_version"] == "v3" and cam2["calibration_version"] is None
    got = cam1["periods"]["recent"]
    assert got["interval"] == {"method": "wilson", "level": 0.95, "low": 0.5572, "high": 0.6181,
                               "n": 1000}  # fmt: skip
    assert abs(got["corrected"]["compliance"] - 0.4996) < 0.0005
    assert cam2["periods"]["recent"]["corrected"] is None
    k = kel["periods"]["recent"]
    assert k["judged"] == 1100 and abs(k["corrected"]["share"] - 1000 / 1100) < 1e-4
