"""The central daemon on a real Mosquitto and SQLite: ingest → summaries → API; CLI; sd_notify."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.cli import check_config
from central.cli_config import database_url
from central.config import (
    ApiSection,
    AreasSection,
    CentralConfig,
    MqttSection,
    StorageSection,
    SummariesSection,
)
from central.service import SHUTDOWN_BUDGET_S, CentralService, sd_notify
from siaga.cli import build_parser
from siaga.wire import counts_topic
from tests.central.api_fixtures import reader_headers
from tests.central.summary_fixtures import A, B, counts_message, write_area_files
from tests.mqtt_broker import MosquittoBroker, Subscriber, wait_until
from tests.prom import value

REPO = Path(__file__).resolve().parents[2]


def agent_publish(broker: MosquittoBroker, messages: list) -> None:
    """Publish counts as an agent would (QoS 1), waiting for every PUBACK."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="box-sim", protocol=mqtt.MQTTv5)
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        infos = [c.publish(counts_topic(m.agent_id, m.camera_id), m.to_payload(), qos=1)
                 for m in messages]  # fmt: skip
        for info in infos:
            info.wait_for_publish(timeout=5)
    finally:
        c.disconnect()
        c.loop_stop()


def make_config(broker: MosquittoBroker, tmp_path: Path) -> CentralConfig:
    csv_path, cams = write_area_files(tmp_path)
    return CentralConfig(
        mqtt=MqttSection(host=broker.host, port=broker.port),
        storage=StorageSection(url=database_url(str(tmp_path / "c.sqlite3")), batch_max_wait_ms=20),
        areas=AreasSection(wilayah_csv=csv_path, kelurahan_geojson=None, cameras_file=cams),
        summaries=SummariesSection(interval_s=1, min_people_for_ratio=5),
        api=ApiSection(port=0),
    )


def city_people(sub: Subscriber) -> int | None:
    last = [m for m in sub.snapshot() if m.topic == "siaga/v1/summary/city"]
    return json.loads(last[-1].payload)["periods"]["recent"]["people_seen"] if last else None


def test_end_to_end_and_clean_stop(mosquitto, tmp_path):
    notes: list[str] = []

    def notify(*fields: str) -> bool:
        notes.extend(fields)
        return True

    svc = CentralService(make_config(mosquitto, tmp_path), notify=notify)
    runner = threading.Thread(target=svc.run)
    runner.start()
    try:
        assert svc.collector.wait_ready(10)
        now = datetime.now(UTC)
        agent_publish(mosquitto, [counts_message("box1", "cam1", A, now, 0, 10, 8, 1),
                                  counts_message("box2", "cam1", B, now, 0, 6, 3, 3)])  # fmt: skip
        with Subscriber(mosquitto, ["siaga/v1/summary/#"], client_id="dash") as dash:
            assert dash.wait_for(lambda _m: city_people(dash) == 16, timeout_s=10)
        assert svc.api_url is not None
        r = httpx.get(f"{svc.api_url}/healthz", timeout=5)
        assert r.status_code == 200, r.text
        kel = httpx.get(f"{svc.api_url}/summaries/kelurahan/{A}", timeout=5).json()
        assert kel["periods"]["recent"]["compliance"] == round(8 / 9, 4)
        metrics = httpx.get(f"{svc.api_url}/metrics", headers=reader_headers(svc.engine),
                            timeout=5).text  # fmt: skip
        assert value(metrics, "siaga_central_ingest_stored_total") == 2
        # Delivered just before the stop: ingest is flushed before the final summaries.
        agent_publish(mosquitto, [counts_message("box1", "cam1", A, now, 1, 4, 4, 0)])
    finally:
        t0 = time.monotonic()
        svc.stop()
        runner.join(SHUTDOWN_BUDGET_S + 5)
    assert not runner.is_alive() and time.monotonic() - t0 < SHUTDOWN_BUDGET_S
    assert {"READY=1", "WATCHDOG=1", "STOPPING=1"} <= set(notes)
    with Subscriber(mosquitto, ["siaga/v1/summary/city"], client_id="late") as late:
        assert late.wait_for(lambda _m: city_people(late) == 20, timeout_s=5)


def test_cli_run_stops_on_sigterm(mosquitto, tmp_path):
    cfg = make_config(mosquitto, tmp_path)
    toml = tmp_path / "central.toml"
    a = cfg.areas
    toml.write_text(
        f'[mqtt]\nport = {mosquitto.port}\n[storage]\nurl = "{cfg.storage.url}"\n'
        f'[areas]\nwilayah_csv = "{a.wilayah_csv}"\ncameras_file = "{a.cameras_file}"\n'
        'kelurahan_geojson = ""\n[api]\nport = 0\n'
    )  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "siaga", "central", "run", "--config", str(toml)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    try:
        line = ""
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while "API on" not in line and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
        assert "API on http://127.0.0.1:" in line, proc.stderr.read() if proc.stderr else ""
        url = line.split("API on ")[1].strip()
        assert wait_until(lambda: _get(f"{url}/healthz") == 200, timeout_s=10)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=SHUTDOWN_BUDGET_S + 5) == 0
        assert time.monotonic() - t0 < SHUTDOWN_BUDGET_S
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


@pytest.mark.parametrize(
    ("cameras", "code", "message"),
    [
        ("", 0, "configuration OK"),
        ('[[cameras]]\nagent_id = "b"\ncamera_id = "c"\nkelurahan_code = "33.74.09.1001"\n', 2,
         "cameras[0] (b/c): kelurahan_code: unknown kelurahan 33.74.09.1001"),
        ("[[cameras]]\nagent_id = 3\n", 2, "cameras[0]: agent_id: Input should be a valid string"),
        ("[[cameras]\n", 2, "not valid TOML"),
    ],
)  # fmt: skip
def test_check_config(tmp_path, capsys, cameras, code, message):
    csv_path, cams = write_area_files(tmp_path)
    cams.write_text(cameras)
    toml = tmp_path / "central.toml"
    toml.write_text(f'[areas]\nwilayah_csv = "{csv_path}"\nkelurahan_geojson = ""\n'
                    f'cameras_file = "{cams}"\n')  # fmt: skip
    args = build_parser().parse_args(["central", "check-config", "--config", str(toml)])
    assert check_config(args) == code
    assert message in capsys.readouterr().err


def test_check_config_names_bad_keys(tmp_path, capsys):
    toml = tmp_path / "central.toml"
    toml.write_text("[summaries]\nrecent_min = 0\n[api]\nport = 99999\n")
    args = build_parser().parse_args(["central", "check-config", "--config", str(toml)])
    assert check_config(args) == 2
    err = capsys.readouterr().err
    assert f"{toml}: summaries.recent_min: Input should be greater than or equal to 1" in err
    assert f"{toml}: api.port: Input should be less than or equal to 65535" in err


@pytest.mark.parametrize("abstract", [False, True])
def test_sd_notify(tmp_path, monkeypatch, abstract):
    name = f"@siaga-test-{os.getpid()}" if abstract else str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name[1:] if abstract else name)
        s.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", name)
        assert sd_notify("READY=1", "STATUS=up")
        assert s.recv(100) == b"READY=1\nSTATUS=up"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert sd_notify("WATCHDOG=1") is False


def test_window_bounds_in_past_do_not_break_summaries(mosquitto, tmp_path):
    # A window from 8 days ago (a box back from a long offline spell) is stored, not summarised.
    svc = CentralService(make_config(mosquitto, tmp_path), notify=lambda *_: True)
    svc.start()
    try:
        assert svc.collector.wait_ready(10)
        old = datetime.now(UTC) - timedelta(days=8)
        agent_publish(mosquitto, [counts_message("box1", "cam1", A, old, 0, 50, 50, 0)])
        assert wait_until(lambda: svc.store.count_rows() == 1, timeout_s=10)
        city = next(s for s in svc.summary_pass() if s.level == "city").payload
        assert city["periods"]["7d"]["people_seen"] == 0
        assert city["freshness"]["newest_window_end"] is None
    finally:
        svc.shutdown()
