"""A real Mosquitto for tests: free loopback port, generated config, outages on the same port.

Reusable by any test package: `MosquittoBroker` runs one broker process; `Subscriber` is a small
paho client that records what it receives. `conftest.py` wraps both in fixtures. Every wait here
is bounded; a broker that will not start raises with the tail of its log.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


def mosquitto_binary() -> str | None:
    """Path of the mosquitto executable (it lives in /usr/sbin on Debian), or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def mosquitto_passwd_binary() -> str | None:
    """Path of mosquitto_passwd, or None."""
    return shutil.which("mosquitto_passwd") or (
        "/usr/bin/mosquitto_passwd" if os.access("/usr/bin/mosquitto_passwd", os.X_OK) else None
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_until(cond: Callable[[], bool], timeout_s: float, interval_s: float = 0.02) -> bool:
    """Poll cond until it is true or timeout_s passes; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        if cond():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


class MosquittoBroker:
    """One Mosquitto process on 127.0.0.1 with a config generated in workdir."""

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        extra_config: Sequence[str] = (),
        allow_anonymous: bool | None = True,
        persistence: bool = True,
        binary: str | None = None,
        plain_listener: bool = True,
        websockets: bool = False,
        ws_port: int | None = None,
    ) -> None:
        """plain_listener=False: no plain-TCP listener on port; extra_config defines every
        listener (for example TLS ones) and port names the one start() waits for.
        websockets=True: also an MQTT-over-WebSockets listener on 127.0.0.1:ws_port (a free port
        when None), as a browser dashboard connects to (`ws_url`).
        allow_anonymous=None: no such line, for an included `per_listener_settings true`
        (Mosquitto refuses it after any security setting)."""
        exe = binary or mosquitto_binary()
        if exe is None:
            raise FileNotFoundError("mosquitto binary not found (apt-get install mosquitto)")
        self.binary = exe
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.plain_listener = plain_listener
        self.ws_port = (ws_port or free_port(self.host)) if websockets else None
        self.config_path.write_text(self._config(extra_config, allow_anonymous, persistence))
        self.proc: subprocess.Popen[bytes] | None = None

    def _config(self, extra: Iterable[str], allow_anonymous: bool | None, persistence: bool) -> str:
        lines = [
            *([f"listener {self.port} {self.host}"] if self.plain_listener else []),
            *(
                []
                if allow_anonymous is None
                else [f"allow_anonymous {'true' if allow_anonymous else 'false'}"]
            ),
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            # As root, mosquitto would switch to the "mosquitto" user, who cannot write here.
            lines.append("user root")
        # Last: the lines after a `listener` line configure that listener.
        ws = [f"listener {self.ws_port} {self.host}", "protocol websockets"] if self.ws_port else []
        return "\n".join([*lines, *extra, *ws]) + "\n"

    @property
    def ws_url(self) -> str | None:
        """The WebSocket listener's URL, or None without one."""
        return None if self.ws_port is None else f"ws://{self.host}:{self.ws_port}"

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> MosquittoBroker:
        """Start (or restart) on the same port and wait until it accepts connections."""
        if self.running:
            return self
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self._why()}")
            if self._accepts():
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"mosquitto not on port {self.port} after {timeout_s} s: {self._why()}")

    def _accepts(self) -> bool:
        """The listener start() waits for accepts connections (and the WebSocket one, if any)."""
        for port in (self.port, self.ws_port):
            if port is None:
                continue
            try:
                with socket.create_connection((self.host, port), timeout=0.2):
                    pass
            except OSError:
                return False
        return True

    def _why(self) -> str:
        err = b""
        if self.proc is not None and self.proc.stderr is not None and self.proc.poll() is not None:
            err = self.proc.stderr.read() or b""
        return (err.decode(errors="replace") + "\n" + self.log_tail()).strip()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the broker log."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Graceful stop (SIGTERM: persistent sessions and retained messages are saved)."""
        self._end(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        """Abrupt stop (SIGKILL): nothing is saved, clients see their sockets die."""
        self._end(signal.SIGKILL, STOP_TIMEOUT_S)

    def restart(self, *, down_s: float = 0.0) -> None:
        """Stop, stay down for down_s, start again on the same port."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def _end(self, sig: int, timeout_s: float) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
        if proc.stderr is not None:
            proc.stderr.close()

    def password_file(self, users: dict[str, str]) -> Path:
        """Write a mosquitto password file for users (name -> password) and return its path."""
        tool = mosquitto_passwd_binary()
        if tool is None:
            raise FileNotFoundError("mosquitto_passwd not found (apt-get install mosquitto)")
        path = self.workdir / "passwd"
        path.unlink(missing_ok=True)
        for i, (user, password) in enumerate(users.items()):
            args = [tool, "-b", *(["-c"] if i == 0 else []), str(path), user, password]
            subprocess.run(args, check=True, capture_output=True, timeout=10)
        path.chmod(0o600)
        return path

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()


class _Pair:
    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client, self.upstream, self.alive = client, upstream, True

    def close(self) -> None:
        self.alive = False
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                # SO_LINGER 0: close with a reset, as a dropped link would look to the peer.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv
            sock.close()


class TcpProxy:
    """A TCP relay on 127.0.0.1 to simulate network trouble between a client and a server.

    hold_replies() stops server-to-client traffic (acknowledgements pile up unseen); cut() drops
    every connection and, with refuse=True, resets new ones until restore().
    """

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = "127.0.0.1"
        self._listener = socket.create_server((self.host, 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._pairs: list[_Pair] = []
        self._lock = threading.Lock()
        self._replies = threading.Event()
        self._replies.set()
        self._refuse = False
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)

    def start(self) -> TcpProxy:
        """Start accepting."""
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                if self._refuse:
                    raise ConnectionRefusedError("proxy is cut")
                upstream = socket.create_connection(self.upstream, timeout=2)
                # Blocking from here on: with the connect timeout left on, recv() timed out
                # after 2 s without traffic and the relay dropped a healthy idle connection.
                upstream.settimeout(None)
            except OSError:
                _Pair(client, socket.socket()).close()
                continue
            pair = _Pair(client, upstream)
            with self._lock:
                self._pairs.append(pair)
            for src, dst, reply in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(pair, src, dst, reply),
                                 daemon=True).start()  # fmt: skip

    def _pump(self, pair: _Pair, src: socket.socket, dst: socket.socket, reply: bool) -> None:
        try:
            while pair.alive:
                data = src.recv(65536)
                if not data:
                    break
                while reply and pair.alive and not self._replies.wait(0.05):
                    pass  # held: the data is dropped if the link is cut meanwhile
                if pair.alive:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            pair.close()

    def hold_replies(self) -> None:
        """Stop forwarding server-to-client bytes (they are delivered later, or lost on cut)."""
        self._replies.clear()

    def release_replies(self) -> None:
        """Forward server-to-client bytes again."""
        self._replies.set()

    def cut(self, *, refuse: bool = True) -> None:
        """Drop every open connection; with refuse, reset new ones until restore()."""
        self._refuse = refuse
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            pair.close()

    def restore(self) -> None:
        """Accept and relay new connections again."""
        self._refuse = False

    def close(self) -> None:
        """Stop everything."""
        self._closed = True
        self.cut()
        self._listener.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Received:
    """One message a Subscriber got."""

    topic: str
    payload: bytes
    retain: bool
    dup: bool
    user_props: tuple[tuple[str, str], ...] = ()


class Subscriber:
    """A paho MQTT v5 client that records messages; optionally a persistent session."""

    def __init__(
        self,
        broker: MosquittoBroker,
        topics: Sequence[str],
        *,
        client_id: str = "test-subscriber",
        persistent: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.broker, self.topics, self.persistent = broker, list(topics), persistent
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                        protocol=mqtt.MQTTv5)  # fmt: skip
        if username is not None:
            c.username_pw_set(username, password)
        # Outages in tests are short; paho annotates ints but computes with floats.
        c.reconnect_delay_set(min_delay=0.05, max_delay=0.2)  # type: ignore[arg-type]
        c.on_connect, c.on_message = self._on_connect, self._on_message
        c.on_subscribe = self._on_subscribe
        self.client = c

    def _on_connect(self, c: mqtt.Client, _u: Any, _f: Any, code: Any, _p: Any) -> None:
        if not code.is_failure:
            c.subscribe([(t, 1) for t in self.topics])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        if all(not rc.is_failure for rc in codes):
            self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            props = tuple(getattr(msg.properties, "UserProperty", None) or ())
            self.messages.append(Received(msg.topic, bytes(msg.payload), msg.retain, msg.dup,
                                          props))  # fmt: skip

    def start(self, timeout_s: float = 5.0) -> Subscriber:
        """Connect, subscribe, and wait for the subscription."""
        props = None
        if self.persistent:
            # Survives a broker restart (with persistence) so nothing published meanwhile is lost.
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        self.client.connect(self.broker.host, self.broker.port, keepalive=10,
                            clean_start=not self.persistent, properties=props)  # fmt: skip
        self.client.loop_start()
        if not self._subscribed.wait(timeout_s):
            raise TimeoutError("subscriber got no CONNACK/SUBACK in time")
        return self

    def snapshot(self) -> list[Received]:
        """A copy of the messages so far."""
        with self._lock:
            return list(self.messages)

    def payloads(self, topic: str | None = None) -> list[bytes]:
        """Payloads received (on one topic, when given), in arrival order."""
        return [m.payload for m in self.snapshot() if topic is None or m.topic == topic]

    def wait_for(self, cond: Callable[[list[Received]], bool], timeout_s: float) -> bool:
        """Wait until cond(messages) holds; bounded."""
        return wait_until(lambda: cond(self.snapshot()), timeout_s)

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Subscriber:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
