import os
import socket
from pathlib import Path

import pytest

from siaga.sdnotify import Notifier, watchdog_interval_s


def test_messages_reach_the_socket(tmp_path: Path):
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(path)
        n = Notifier(path)
        assert n.enabled
        assert n.ready("starting 2 cameras")
        assert srv.recv(256) == b"READY=1\nSTATUS=starting 2 cameras"
        assert n.watchdog() and srv.recv(256) == b"WATCHDOG=1"
        assert n.stopping() and srv.recv(256) == b"STOPPING=1"


def test_abstract_socket_name():
    name = f"@siaga-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind("\0" + name[1:])
        assert Notifier(name).status("ok")
        assert srv.recv(64) == b"STATUS=ok"


def test_disabled_without_socket(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    assert not n.enabled and n.ready() is False


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [("10000000", None, 5.0), ("10000000", "1", None), (None, None, None), ("x", None, None)],
)
def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch, usec, pid, expected):
    for key, val in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if val is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, val)
    assert watchdog_interval_s() == expected
