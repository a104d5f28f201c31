"""`check-config --connect` against real things: Mosquitto (passwords, a TLS listener), an HTTP
MPEG-TS stream served by ffmpeg, dead streams, and undecodable video. One clear line each."""

from __future__ import annotations

import contextlib
import http.server
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.config import CameraSection, MqttSection
from agent.probe import ProbeResult, probe_broker, probe_camera, quiet_opencv
from siaga.cli import main
from tests.agent.test_publisher import make_ca_and_server
from tests.conftest import shared_root
from tests.mqtt_broker import MosquittoBroker, free_port, wait_until

AGENT = "box-01"
CLIP = shared_root() / "video" / "gituatu_video.mp4"  # H.264 1280x720, 29.97 fps
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason=f"shared video {CLIP} not found")


def broker_probe(port: int, **kw: Any) -> ProbeResult:
    timeout_s = kw.pop("t", 5)
    cfg = MqttSection(**{"host": "127.0.0.1", "port": port, "tls": False, **kw})
    result = probe_broker(cfg, username=AGENT, client_id="probe-test", timeout_s=timeout_s)
    print(result.line)  # the lines the report quotes (pytest -s)
    return result


@pytest.fixture
def password_broker(mosquitto_factory: Callable[..., MosquittoBroker], tmp_path: Path):
    pw = MosquittoBroker(tmp_path / "pw").password_file({AGENT: "right-secret"})
    return mosquitto_factory(allow_anonymous=False, extra_config=[f"password_file {pw}"])


def test_broker_good_and_bad_credentials(password_broker: MosquittoBroker) -> None:
    good = broker_probe(password_broker.port, password=SecretStr("right-secret"))
    assert good.ok and good.line.startswith(f"broker 127.0.0.1:{password_broker.port} ")
    assert "OK connected and logged in" in good.line
    bad = broker_probe(password_broker.port, password=SecretStr("wrong-secret"))
    assert not bad.ok and bad.kind == "auth" and "FAILED auth:" in bad.line
    assert "Bad user name or password" in bad.line or "Not authorized" in bad.line
    assert "secret" not in good.line + bad.line


def test_broker_nothing_listening_dns_and_silence() -> None:
    refused = broker_probe(free_port())
    assert (refused.kind, refused.ok) == ("refused", False) and "FAILED refused:" in refused.line
    dns = probe_broker(MqttSection(host="broker.invalid"), username=AGENT, client_id="p")
    print(dns.line)
    assert dns.kind == "dns" and "FAILED DNS: unknown host name" in dns.line
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        quiet = broker_probe(silent.getsockname()[1], t=1)
    assert quiet.kind == "timeout" and "no answer to the MQTT login within 1 s" in quiet.line


@needs_openssl
def test_broker_tls_right_and_wrong_ca(mosquitto_factory, tmp_path: Path) -> None:
    ca, crt, key = make_ca_and_server(tmp_path, "city")
    other_ca, _, _ = make_ca_and_server(tmp_path, "other")
    broker = mosquitto_factory(extra_config=[f"cafile {ca}", f"certfile {crt}", f"keyfile {key}"])
    assert broker_probe(broker.port, tls=True, ca_file=ca).ok
    wrong = broker_probe(broker.port, tls=True, ca_file=other_ca)
    assert not wrong.ok and wrong.kind == "tls" and "FAILED TLS:" in wrong.line
    assert "certificate verify failed" in wrong.line and f"CA file: {other_ca}" in wrong.line
    plain = broker_probe(broker.port)  # plain TCP to the TLS port: said, not a hang
    assert not plain.ok and plain.kind in ("network", "timeout")


@pytest.fixture
def mpegts_stream() -> Iterator[str]:
    """A live HTTP MPEG-TS stream from ffmpeg (it serves one client, then exits); killed after."""
    if shutil.which("ffmpeg") is None or not CLIP.is_file():
        pytest.skip("needs ffmpeg and the shared video")
    port = free_port()
    url = f"http://127.0.0.1:{port}/live.ts"
    proc = subprocess.Popen(
        ["ffmpeg", "-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", str(CLIP),
         "-c", "copy", "-f", "mpegts", "-listen", "1", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        assert wait_until(lambda: _listening(port), 10), "ffmpeg did not listen"
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=5)


def _listening(port: int) -> bool:
    # Only looks at the socket table: a test connection would use up ffmpeg's one client.
    hex_port = f":{port:04X} "
    return any(hex_port in line and " 0A " in line for line in
               Path("/proc/net/tcp").read_text().splitlines())  # fmt: skip


def camera_probe(source: str, **kw: Any) -> ProbeResult:
    quiet_opencv()
    cam = CameraSection(**{"id": "cam1", "source": source, "open_timeout_s": 5,
                           "read_timeout_s": 5, **kw})  # fmt: skip
    result = probe_camera(cam)
    print(result.line)
    return result


def test_live_http_mpegts_stream(mpegts_stream: str) -> None:
    live = camera_probe(mpegts_stream)
    assert live.ok, live.line
    assert live.line.startswith("camera cam1: OK 1280x720 @ ") and "first frame in" in live.line


def test_dead_streams_each_say_why(tmp_path: Path) -> None:
    refused = camera_probe(f"http://127.0.0.1:{free_port()}/live.ts")
    assert refused.kind == "refused" and "FAILED refused: nothing accepts connections" in (
        refused.line)  # fmt: skip
    dns = camera_probe("rtsp://cam.invalid/stream")
    assert dns.kind == "dns" and "unknown host name 'cam.invalid'" in dns.line
    with _http_server(404) as url:
        missing = camera_probe(url)
    assert missing.kind == "http" and "answers 404 Not Found" in missing.line
    assert "wrong path" in missing.line
    with _http_server(401) as url:
        auth = camera_probe(url.replace("http://", "http://viewer@"), password_file=_pw(tmp_path))
    assert auth.kind == "auth" and "http://***@" in auth.line and "camera-pw" not in auth.line
    gone = camera_probe(str(tmp_path / "none.mp4"))
    assert gone.kind == "open" and "not found" in gone.line


def _pw(tmp_path: Path) -> Path:
    f = tmp_path / "pw"
    f.write_text("camera-pw\n")
    f.chmod(0o600)
    return f


@contextlib.contextmanager
def _http_server(status: int) -> Iterator[str]:
    """A tiny HTTP server that answers every GET with one status; its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(status)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stream"
    finally:
        server.shutdown()
        server.server_close()


@needs_ffmpeg
@needs_clip
def test_stream_that_opens_but_does_not_decode(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(CLIP), "-t", "2", "-c", "copy",
                    "-movflags", "+faststart", str(whole)], check=True, timeout=60)  # fmt: skip
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: data.index(b"mdat") + 4])  # the index says frames; none are there
    bad = camera_probe(str(cut))
    assert bad.kind == "codec" and "opened, but no frame decoded" in bad.line


def test_disabled_camera_is_skipped() -> None:
    assert camera_probe("rtsp://10.0.0.5/x", enabled=False).line == (
        "camera cam1: skipped (enabled = false)")  # fmt: skip


CONFIG = """
[agent]
id = "{agent}"
site = "Pasar Johar"
kelurahan_code = "33.74.03.1006"

[[cameras]]
id = "gate"
source = "{source}"
open_timeout_s = 5
read_timeout_s = 5

[mqtt]
host = "127.0.0.1"
port = {port}

[outbox]
path = "{tmp}/outbox.sqlite3"
"""


def _said(capsys: pytest.CaptureFixture[str]) -> tuple[str, str, list[str]]:
    """stdout, stderr and the connection lines of one check-config run."""
    out, err = capsys.readouterr()
    return out, err, [ln for ln in out.splitlines() if ln.startswith(("broker ", "camera "))]


def test_check_config_connect_end_to_end(
    password_broker: MosquittoBroker, mpegts_stream: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    f = tmp_path / "agent.toml"
    f.write_text(CONFIG.format(agent=AGENT, source=mpegts_stream, port=password_broker.port,
                               tmp=tmp_path))  # fmt: skip
    f.chmod(0o600)
    monkeypatch.setenv("SIAGA_AGENT__MQTT__PASSWORD", "right-secret")
    code = main(["agent", "check-config", "--config", str(f), "--connect"])
    out, err, lines = _said(capsys)
    good = lines
    assert code == 0, out + err
    assert len(lines) == 2 and "OK connected" in lines[0] and "camera gate: OK 1280x720" in lines[1]
    assert "every connection OK" in err and "right-secret" not in out + err

    monkeypatch.setenv("SIAGA_AGENT__MQTT__PASSWORD", "wrong-secret")
    f.write_text(f.read_text().replace(mpegts_stream, f"http://127.0.0.1:{free_port()}/x"))
    assert main(["agent", "check-config", "--config", str(f), "--connect"]) == 2
    out, err, lines = _said(capsys)
    assert "FAILED auth:" in lines[0] and "camera gate: FAILED refused:" in lines[1]
    assert "2 problem(s)" in err and "wrong-secret" not in out + err
    print("\n".join(good + lines))  # shown with -s
