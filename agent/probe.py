"""`check-config --connect`: log in to the broker and read one frame from every camera.

What a technician needs on site is one line per connection that says what works and, when not,
why in words they can act on: unknown host, nothing listening, a wrong CA, refused credentials,
a timeout, a stream that opens but does not decode. OpenCV only says "not opened", so a failed
camera is diagnosed afterwards with plain sockets (and an HTTP request for http(s) sources),
never before: a stream server may serve a single client, which the probe must not use up.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import CameraSection
from agent.source import Capture, is_file_source, is_synthetic, open_capture, valid_frame
from siaga.camera_url import redact_url
from siaga.mqtt import configure_client, describe_error, describe_refusal
from siaga.settings import BrokerSection, ConfigError

BROKER_TIMEOUT_S = 10.0
# CONNACK reason codes meaning "these credentials are refused" (MQTT v5 134/135, v3.1.1 4/5).
_AUTH_CODES = frozenset({134, 135, 4, 5})
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443, "rtmp": 1935}
_GRACE_S = 5.0  # beyond the camera's own timeouts, before a stuck OpenCV call is given up


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one connection: `kind` names the failure class (dns, refused, tls, auth,
    timeout, network, mqtt, http, codec, open, config) or "ok" / "skipped"."""

    target: str
    ok: bool
    kind: str
    message: str

    @property
    def line(self) -> str:
        """The one line check-config prints for it."""
        if self.kind == "skipped":
            return f"{self.target}: skipped ({self.message})"
        return f"{self.target}: {'OK' if self.ok else 'FAILED'} {self.message}"


def _classify(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return "DNS"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ssl.SSLError):
        return "TLS"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "network"


def probe_broker(
    cfg: BrokerSection, *, username: str | None, client_id: str,
    timeout_s: float = BROKER_TIMEOUT_S,
) -> ProbeResult:  # fmt: skip
    """Connect and log in once, as the agent would (same TLS set-up), then disconnect.

    The client id must differ from the running agent's, or the broker would drop the agent.
    """
    mode = "TLS" if cfg.tls_enabled else "plain TCP"
    who = f"user {username!r}" if username else "anonymous"
    target = f"broker {cfg.host}:{cfg.port} ({mode}, {who})"

    def fail(kind: str, text: str) -> ProbeResult:
        return ProbeResult(target, False, kind.lower(), f"{kind}: {text}")

    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=mqtt.MQTTv5, reconnect_on_failure=False)  # fmt: skip
    try:
        configure_client(c, cfg, username=username)
    except (OSError, ssl.SSLError, ValueError) as exc:  # an unreadable or bad CA / cert file
        return fail("config", f"cannot set up TLS: {exc}")
    c.connect_timeout = timeout_s
    done = threading.Event()
    seen: dict[str, Any] = {}

    def on_connect(_c: Any, _u: Any, _f: Any, code: Any, _p: Any) -> None:
        seen.setdefault("code", code)
        done.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, code: Any, _p: Any) -> None:
        seen.setdefault("gone", code)
        done.set()

    c.on_connect, c.on_disconnect = on_connect, on_disconnect
    start = time.monotonic()
    try:
        c.connect(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
    except (OSError, ValueError) as exc:  # DNS, refused, TLS (ssl.SSLError is an OSError)
        kind = _classify(exc)
        text = describe_error(exc)
        if kind == "TLS":
            text += f"; CA file: {cfg.ca_file or 'the system CA store (mqtt.ca_file unset)'}"
        return fail(kind, text)
    c.loop_start()
    try:
        done.wait(max(0.0, timeout_s - (time.monotonic() - start)))
        code = seen.get("code")
        if code is not None and not code.is_failure:
            took = time.monotonic() - start
            return ProbeResult(target, True, "ok", f"connected and logged in in {took:.2f} s")
        if code is not None:
            kind = "auth" if getattr(code, "value", code) in _AUTH_CODES else "MQTT"
            return fail(kind, describe_refusal(code, username))
        if "gone" in seen:
            return fail("network", f"the broker closed the connection before answering "
                        f"({seen['gone']}); is mqtt.tls right for this port?")  # fmt: skip
        return fail("timeout", f"no answer to the MQTT login within {timeout_s:g} s (is "
                    f"{cfg.host}:{cfg.port} an MQTT port? mqtt.tls right for it?)")  # fmt: skip
    finally:
        c.disconnect()
        c.loop_stop()


def quiet_opencv() -> None:
    """Silence FFmpeg's and OpenCV's own stderr chatter: the probe says what went wrong."""
    import cv2

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read at each open
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def probe_camera(
    cam: CameraSection, *, opener: Callable[..., Capture] = open_capture
) -> ProbeResult:
    """Open the camera as the agent does and read one frame; bounded even if OpenCV hangs."""
    target = f"camera {cam.id}"
    if not cam.enabled:
        return ProbeResult(target, True, "skipped", "enabled = false")
    limit_s = cam.open_timeout_s + cam.read_timeout_s + _GRACE_S
    box: list[ProbeResult] = []
    worker = threading.Thread(target=lambda: box.append(_probe_camera(cam, opener, target)),
                              name=f"probe-{cam.id}", daemon=True)  # fmt: skip
    worker.start()
    worker.join(limit_s)
    if box:
        return box[0]
    return ProbeResult(target, False, "timeout", f"timeout: no frame and no error from "
                       f"{redact_url(cam.source)} within {limit_s:g} s")  # fmt: skip


def _probe_camera(cam: CameraSection, opener: Callable[..., Capture], target: str) -> ProbeResult:
    import cv2

    def fail(kind: str, text: str) -> ProbeResult:
        return ProbeResult(target, False, kind.lower(), f"{kind}: {text}")

    src = cam.source
    if is_file_source(src) and not is_synthetic(src) and not os.path.isfile(src):
        return fail("open", f"video file {src} not found")
    try:
        url = cam.open_source()  # with its password: never printed
    except ConfigError as exc:
        return fail("config", str(exc))
    start = time.monotonic()
    cap = opener(url, open_timeout_s=cam.open_timeout_s, read_timeout_s=cam.read_timeout_s)
    try:
        if not cap.isOpened():
            return fail(*_why_not_opened(cam, url, time.monotonic() - start))
        deadline = time.monotonic() + cam.read_timeout_s
        reads = 0
        while time.monotonic() < deadline and reads < 50:
            ok, image = cap.read()
            reads += 1
            if ok and valid_frame(image):
                took = time.monotonic() - start
                h, w = image.shape[:2]
                fps = cap.get(cv2.CAP_PROP_FPS)
                rate = f"{fps:.1f} fps" if 0 < fps < 1000 else "fps unknown"
                return ProbeResult(target, True, "ok", f"{w}x{h} @ {rate}, first frame in "
                                   f"{took:.2f} s")  # fmt: skip
            if not ok and is_file_source(src):
                break  # a file that ends (or fails) at its first frame will not get better
        when = "" if is_file_source(src) else f" within {cam.read_timeout_s:g} s"
        return fail(
            "codec",
            f"{redact_url(src)} opened, but no frame decoded{when}: a "
            "codec this OpenCV build cannot decode (H.264 is safe), or no video in it",
        )
    finally:
        cap.release()


def _why_not_opened(cam: CameraSection, url: str, took_s: float) -> tuple[str, str]:
    """(kind, text) for a source OpenCV could not open, found out with plain sockets."""
    src = cam.source
    if src.startswith("usb:"):
        return "open", f"cannot open USB camera {src[4:]} (/dev/video{src[4:]} missing, busy " \
                       "or not permitted to this user)"  # fmt: skip
    if is_file_source(src):
        return "open", f"cannot open {src}: not a video file this OpenCV build can read"
    parts = urlsplit(src)
    host, scheme = parts.hostname or "", parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 80)
    except ValueError:
        return "config", f"{redact_url(src)}: not a valid port"
    where = f"{host}:{port}"
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return "DNS", f"unknown host name {host!r} ({exc})"
    try:
        socket.create_connection((host, port), timeout=min(cam.open_timeout_s, 10.0)).close()
    except ConnectionRefusedError:
        return "refused", f"nothing accepts connections on {where} (camera off, wrong port?)"
    except TimeoutError:
        return "timeout", f"no answer from {where} within {min(cam.open_timeout_s, 10.0):g} s " \
                          "(firewall, wrong address?)"  # fmt: skip
    except OSError as exc:
        return "network", f"{where}: {exc.strerror or exc}"
    if took_s >= cam.open_timeout_s * 0.9:
        return "timeout", f"{where} accepts connections, but {redact_url(src)} did not open " \
                          f"within open_timeout_s = {cam.open_timeout_s:g} s"  # fmt: skip
    if scheme in ("http", "https"):
        return _http_status(url, src, timeout_s=min(cam.open_timeout_s, 10.0))
    return "open", f"{where} accepts connections, but {redact_url(src)} did not open: wrong " \
                   "path, user name or password, or a codec this OpenCV build cannot " \
                   "decode (the camera's log says which)"  # fmt: skip


def _http_status(url: str, src: str, *, timeout_s: float) -> tuple[str, str]:
    """Ask the HTTP server what it thinks of the URL (credentials sent as Basic auth)."""
    parts = urlsplit(url)
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    req = urllib.request.Request(bare, headers={"User-Agent": "siaga-check-config"})
    if parts.username is not None:
        pair = f"{parts.username}:{parts.password or ''}".encode()
        req.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    shown = redact_url(src)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # http(s) only: checked above
            ctype = resp.headers.get("Content-Type") or "no content type"
            return "open", f"{shown} answers HTTP {resp.status} ({ctype}), but no video this " \
                           "OpenCV build can decode came from it"  # fmt: skip
    except urllib.error.HTTPError as exc:
        said = f"the server answers {exc.code} {exc.reason} for {shown}"
        if exc.code in (401, 403):
            return "auth", f"{said}: wrong user name or password"
        return "HTTP", said + (" (wrong path?)" if exc.code == 404 else "")
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLError):
            return "TLS", f"{shown}: {exc.reason}"
        return "network", f"{shown}: {exc.reason}"
    except OSError as exc:
        return "network", f"{shown}: {exc}"
