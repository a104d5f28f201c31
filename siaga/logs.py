"""Log output for journald or a terminal, set up once for every command (siaga/cli.py).

Under systemd with stderr connected to the journal, each record is one line starting with its
syslog priority (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug; journald's SyslogLevelPrefix
reads it) and without a timestamp (journald stamps every entry itself); a traceback or any other
newline is escaped as `\\n`, so that one event stays one journal entry with one priority. In a
terminal (or piped to a file) the lines carry their own timestamp and level name.

"Connected to the journal" is systemd's documented test: JOURNAL_STREAM holds the device and
inode of the stream, and they are stderr's. INVOCATION_ID alone is not enough: a unit with
StandardError=file:… has it too, and that file needs timestamps. SIAGA_LOG_FORMAT=journal|plain
overrides the detection (e.g. for `systemd-cat`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Python level → syslog priority (sd-daemon(3)); levels in between take the next lower one.
PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
              (logging.INFO, 6))  # fmt: skip
DEBUG_PRIORITY = 7


def priority(levelno: int) -> int:
    """The syslog priority of a Python log level."""
    for level, prio in PRIORITIES:
        if levelno >= level:
            return prio
    return DEBUG_PRIORITY


class JournalFormatter(logging.Formatter):
    """`<N>logger: message`, on one line, no timestamp."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record (and its traceback) as one prefixed line."""
        text = super().format(record).replace("\\", "\\\\").replace("\n", "\\n")
        return f"<{priority(record.levelno)}>{text}"


def journal_stream(stream: TextIO, env: Mapping[str, str] = os.environ) -> bool:
    """True when `stream` is the journal's stream (JOURNAL_STREAM names its device:inode)."""
    forced = env.get("SIAGA_LOG_FORMAT", "").strip().lower()
    if forced in ("journal", "plain"):
        return forced == "journal"
    value = env.get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(part) for part in value.split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):  # unset, malformed, or no real file
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


class _SiagaHandler(logging.StreamHandler):
    """Ours: replaced by a later setup_logging, while handlers others attached (a test
    harness's log capture) stay."""


def setup_logging(level: int, stream: TextIO | None = None) -> logging.Handler:
    """One handler of ours on the root logger, formatted for where stderr goes; returns it."""
    out = sys.stderr if stream is None else stream
    handler = _SiagaHandler(out)
    formatter = JournalFormatter() if journal_stream(out) else logging.Formatter(PLAIN_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _SiagaHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
