"""siaga/logs.py: journald gets `<N>`-prefixed lines without timestamps, a terminal gets
timestamps; checked on a real `siaga agent run` (synthetic camera, no broker: a warning and
info lines) with JOURNAL_STREAM naming its stderr pipe, as systemd sets it."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from siaga.logs import JournalFormatter, journal_stream, priority, setup_logging

REPO = Path(__file__).resolve().parents[2]
CONFIG = """[agent]
id = "box-log"
site = "Test"
kelurahan_code = "33.74.01.1001"
[[cameras]]
id = "cam0"
source = "synthetic:frames=15,fps=10"
[counting]
window_s = 5
[mqtt]
host = "127.0.0.1"
port = 1
reconnect_min_s = 0.5
[outbox]
path = "{outbox}"
"""
TIMESTAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "


@pytest.mark.parametrize(("level", "prio"), [(logging.CRITICAL, 2), (logging.ERROR, 3),
                                             (logging.WARNING, 4), (logging.INFO, 6),
                                             (logging.DEBUG, 7), (25, 6), (35, 4)])  # fmt: skip
def test_priorities(level: int, prio: int):
    assert priority(level) == prio


def test_a_traceback_stays_one_line():
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        record = logging.LogRecord("central.x", logging.ERROR, __file__, 1, "pass %s failed",
                                   ("summary",), sys.exc_info())  # fmt: skip
    line = JournalFormatter().format(record)
    assert "\n" not in line
    assert line.startswith("<3>central.x: pass summary failed\\nTraceback (most recent call")
    assert "ValueError: bad\\nvalue" in line


def run_agent(tmp_path: Path, env_extra: dict[str, str], *, journal: bool) -> list[str]:
    """`siaga agent run` with stderr on a pipe; JOURNAL_STREAM names that pipe if journal."""
    cfg = tmp_path / "agent.toml"
    cfg.write_text(CONFIG.format(outbox=tmp_path / "outbox.sqlite3"))
    r, w = os.pipe()
    env = {k: v for k, v in os.environ.items()
           if k not in ("JOURNAL_STREAM", "SIAGA_LOG_FORMAT", "INVOCATION_ID")}  # fmt: skip
    if journal:
        st = os.fstat(w)
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    env.update(env_extra)
    proc = subprocess.Popen([sys.executable, "-m", "siaga", "agent", "run", "--config", str(cfg),
                             "--exit-at-end"], cwd=REPO, env=env, stderr=w,
                            stdout=subprocess.DEVNULL)  # fmt: skip
    os.close(w)
    with os.fdopen(r) as err:
        out = err.read()
    assert proc.wait(timeout=60) == 0, out
    return out.splitlines()


def test_under_journald(tmp_path: Path):
    lines = run_agent(tmp_path, {"INVOCATION_ID": "0123456789abcdef"}, journal=True)
    assert lines and all(re.match(r"^<[2-7]>[\w.]+: \S", line) for line in lines), lines
    assert not any(re.search(TIMESTAMP, line) for line in lines)  # journald stamps them
    prios = {line[1] for line in lines}
    assert {"4", "6"} <= prios  # the broker's refusal is a warning, the rest info
    assert any(line.startswith("<4>agent.publisher: cannot connect") for line in lines)


@pytest.mark.parametrize(("journal", "extra"), [
    (False, {}),  # a terminal or a pipe
    (False, {"JOURNAL_STREAM": "1:2", "INVOCATION_ID": "x"}),  # systemd, stderr not the journal
    (True, {"SIAGA_LOG_FORMAT": "plain"}),
])  # fmt: skip
def test_elsewhere_timestamps(tmp_path: Path, journal: bool, extra: dict[str, str]):
    lines = run_agent(tmp_path, extra, journal=journal)
    assert lines and all(re.match(rf"^{TIMESTAMP}(INFO|WARNING) [\w.]+: ", ln) for ln in lines)
    assert not any(line.startswith("<") for line in lines)


def test_detection_needs_stderr_to_be_the_stream(tmp_path: Path):
    with open(tmp_path / "f", "w") as f:
        st = os.fstat(f.fileno())
        assert journal_stream(f, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        assert not journal_stream(f, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
        assert not journal_stream(f, {"JOURNAL_STREAM": "garbage"})
        assert not journal_stream(f, {"INVOCATION_ID": "abc"})
        assert journal_stream(f, {"SIAGA_LOG_FORMAT": "journal"})


def test_setup_replaces_only_its_own_handler():
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    before = list(root.handlers)
    try:
        first = setup_logging(logging.INFO)
        second = setup_logging(logging.WARNING)
        assert other in root.handlers and second in root.handlers
        assert first not in root.handlers
    finally:
        root.removeHandler(other)
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
