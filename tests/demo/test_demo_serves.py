"""`siaga demo` serves the dashboard and the city page after its scenario, until Ctrl-C or
--duration, with the dashboard live over its broker's WebSocket listener; run where nobody can
press Ctrl-C (no terminal), it still ends by itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from demo.serve import ADDRESSES, serve_seconds
from tests.conftest import REPO
from tests.mqtt_broker import mosquitto_binary

START_TIMEOUT_S = 240.0  # the scenario: one short clip through the detector on a loaded machine
CLIP = "video/gituatu_mask.mp4"


@pytest.mark.parametrize(("duration", "interactive", "want"), [
    (None, True, None),  # a person at a terminal: until Ctrl-C
    (None, False, 0.0),  # CI, a pipe, make demo in a script: end after the scenario
    (0.0, True, 0.0),
    (30.0, False, 30.0),  # asked for: served even without a terminal
    (-5.0, True, 0.0),
])  # fmt: skip
def test_how_long_the_demo_serves(duration: float | None, interactive: bool,
                                  want: float | None) -> None:  # fmt: skip
    assert serve_seconds(duration, interactive=interactive) == want


def _closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _retained_summary(ws_url: str) -> dict[str, object]:
    """The city summary as a browser gets it: MQTT over the broker's WebSocket listener."""
    got: list[bytes] = []
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-ws", protocol=mqtt.MQTTv5,
                    transport="websockets")  # fmt: skip
    c.on_connect = lambda cl, *_: cl.subscribe("siaga/v1/summary/city", qos=1)

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(bytes(msg.payload))
        done.set()

    c.on_message = on_message
    url = urlsplit(ws_url)
    c.connect(url.hostname or "127.0.0.1", url.port or 80)
    c.loop_start()
    try:
        assert done.wait(10), "no retained city summary over WebSockets"
    finally:
        c.disconnect()
        c.loop_stop()
    return dict(json.loads(got[0]))


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
def test_demo_serves_dashboard_and_city_page_until_ctrl_c(shared: Path, tmp_path: Path) -> None:
    clip = shared / CLIP
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    work = tmp_path / "demo"
    env = {**os.environ, "SIAGA_SHARED": str(shared), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        # -X faulthandler: a demo that does not stop is made to print every thread's stack.
        [sys.executable, "-X", "faulthandler", "-m", "siaga", "demo", "--workdir", str(work),
         "--video", str(clip),
         "--duration", "600"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own group: a hung demo is killed with its broker
        # Ctrl-C as at a terminal: a test run started in the background (`make test &`) has
        # SIGINT ignored, and a child inherits that; Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not any(ln.startswith("serving the dashboard") for ln in lines):
            assert proc.poll() is None, "".join(lines)[-3000:]
            assert time.monotonic() < deadline, "".join(lines)[-3000:]
            time.sleep(0.2)
        urls = json.loads((work / ADDRESSES).read_text())
        out = "".join(lines)
        assert f"dashboard: {urls['dashboard']}" in out and f"city page: {urls['city']}" in out
        assert "for 600 s" in out and "count windows delivered" in out  # the scenario ran first

        with urlopen(urls["dashboard"], timeout=10) as r:
            assert r.status == 200 and "text/html" in r.headers["content-type"]
        with urlopen(urls["city"], timeout=10) as r:
            city = r.read().decode()
        assert "Belum ada data" not in city  # every section has the demo's data
        assert city.count('<svg class="chart"') >= 10

        summary = _retained_summary(urls["mqtt_ws"])
        assert summary["schema"] == "siaga.summary/1" and summary["level"] == "city"
        with urlopen(f"{urls['api']}/dashboard/api/config", timeout=10) as r:
            config = json.loads(r.read())
        assert urls["mqtt_ws"] in json.dumps(config)  # the page is pointed at that listener

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:  # say where it hangs: faulthandler dumps on SIGABRT
            proc.send_signal(signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the broker it started, not left behind
            reader.join(5)
            pytest.fail("the demo did not stop within 30 s of Ctrl-C:\n" + "".join(lines)[-6000:])
        assert code == 0, "".join(lines)[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    reader.join(5)
    assert "demo: stopped serving" in "".join(lines)
    assert not (work / ADDRESSES).exists()
    ws_port = urlsplit(urls["mqtt_ws"]).port
    api_port = urlsplit(urls["api"]).port
    assert ws_port and api_port and _closed(ws_port) and _closed(api_port)  # broker, API gone
