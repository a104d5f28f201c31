"""systemd notifications (READY, WATCHDOG, STATUS, STOPPING) without a libsystemd dependency."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    """Sends datagrams to $NOTIFY_SOCKET; does nothing when not run by systemd."""

    def __init__(self, address: str | None = None) -> None:
        addr = os.environ.get("NOTIFY_SOCKET") if address is None else address
        # An abstract socket name is written with a leading '@' and sent with a NUL byte.
        self.address = "\0" + addr[1:] if addr and addr.startswith("@") else addr
        self.watchdog_s = watchdog_interval_s()

    @property
    def enabled(self) -> bool:
        """True when systemd asked for notifications."""
        return bool(self.address)

    def send(self, *fields: str) -> bool:
        """Send `KEY=value` lines; returns False (and logs once per call) on failure."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.connect(self.address)
                s.sendall("\n".join(fields).encode())
            return True
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)
            return False

    def ready(self, status: str = "") -> bool:
        """Tell systemd start-up is complete."""
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        """Keep-alive ping: only call it when work is really progressing."""
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """One-line status shown by `systemctl status`."""
        return self.send(f"STATUS={text}")

    def stopping(self) -> bool:
        """Tell systemd a clean shutdown has begun."""
        return self.send("STOPPING=1")


def watchdog_interval_s() -> float | None:
    """Half of systemd's WatchdogSec (from $WATCHDOG_USEC), when set for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1e6 / 2
    except ValueError:
        return None
