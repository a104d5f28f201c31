"""Overload (agent/load.py): the reached detect fps over a window, episodes, and a real agent
starved of CPU reporting it in its status."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.load import LoadWatch, Observation
from siaga.wire import StatusMessage
from tests.mqtt_broker import MosquittoBroker, Subscriber

REPO = Path(__file__).resolve().parents[2]


def feed(watch: LoadWatch, seconds: int, fps: float, *, start: float = 0.0, done: int = 0,
         live: bool = True, nominal: float = 0.0, interruptions: int = 0) -> int:  # fmt: skip
    """One observation a second for `seconds`, processing `fps` frames a second from `done`;
    returns the count one second after the last observation (where a next feed starts)."""
    for i in range(seconds):
        watch.observe(Observation(start + i, done + round(fps * i), interruptions, live, nominal))
    return done + round(fps * seconds)


def test_a_camera_that_keeps_up_is_not_overloaded():
    watch = LoadWatch("cam", detect_fps=5, window_s=30)
    feed(watch, 60, 4.8)
    assert not watch.overloaded and watch.reached_fps == pytest.approx(4.8, abs=0.05)


def test_start_up_is_not_judged_before_a_whole_window(caplog: pytest.LogCaptureFixture):
    watch = LoadWatch("cam", detect_fps=5, window_s=30)
    feed(watch, 20, 2.0)
    assert watch.reached_fps is None and not watch.overloaded
    assert "OVERLOADED" not in caplog.text
    feed(watch, 15, 2.0, start=20, done=40)  # a whole window now: 2 of 5 is an overload
    assert watch.reached_fps == pytest.approx(2.0, abs=0.1) and watch.overloaded


def test_an_episode_is_warned_once_and_its_end_said(caplog: pytest.LogCaptureFixture):
    watch = LoadWatch("cam7", detect_fps=5, window_s=10)
    with caplog.at_level(logging.WARNING, logger="agent.load"):
        n = feed(watch, 15, 5.0)
        n = feed(watch, 30, 4.0, start=15, done=n)  # 80 %: overloaded, for 30 s
        assert watch.overloaded and watch.episodes == 1
        feed(watch, 30, 5.0, start=45, done=n)
    assert not watch.overloaded and watch.episodes == 1
    warned = [r.getMessage() for r in caplog.records if "OVERLOADED" in r.getMessage()]
    assert len(warned) == 1 and "camera cam7" in warned[0] and "of 5.0 detect fps" in warned[0]
    assert sum("keeps up again" in r.getMessage() for r in caplog.records) == 1


def test_a_rate_near_the_limit_does_not_flap():
    watch = LoadWatch("cam", detect_fps=5, window_s=10)
    n = feed(watch, 15, 4.0)
    for k in range(6):  # between the 90 % limit and the 95 % recovery margin
        n = feed(watch, 15, 4.6 if k % 2 else 4.4, start=15 * (k + 1), done=n)
    assert watch.episodes == 1


def test_a_camera_that_is_not_delivering_or_slower_than_asked_is_not_overloaded():
    watch = LoadWatch("cam", detect_fps=5, window_s=10)
    feed(watch, 40, 0.0, live=False)
    assert not watch.overloaded and watch.reached_fps is None
    feed(watch, 40, 3.0, nominal=3.0)  # a 3 fps camera gives 3 fps at most
    assert not watch.overloaded
    watch2 = LoadWatch("cam", detect_fps=5, window_s=10)
    n = feed(watch2, 8, 5.0)
    feed(watch2, 8, 0.0, start=8, done=n, interruptions=1)  # reconnecting: a fresh window
    assert not watch2.overloaded


def _starved_config(tmp: Path, broker: MosquittoBroker, cameras: int, *, detect_fps: int = 25,
                    window_s: int = 3) -> Path:  # fmt: skip
    cams = "".join(f'[[cameras]]\nid = "c{i}"\nsource = "synthetic:frames=100000,fps=25"\n'
                   f"detect_fps = {detect_fps}\n" for i in range(cameras))  # fmt: skip
    cfg = tmp / "agent.toml"
    cfg.write_text(f"""
[agent]
id = "box-starved"
site = "Test site"
kelurahan_code = "33.74.01.1001"
{cams}
[model]
intra_op_threads = 1
[sampling]
motion_gate = false
[mqtt]
host = "{broker.host}"
port = {broker.port}
confirm = "broker"
[outbox]
path = "{tmp / "outbox.sqlite3"}"
[health]
status_interval_s = 1
overload_window_s = {window_s}
""")  # fmt: skip
    return cfg


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_an_agent_starved_of_cpu_says_so_in_its_status(mosquitto, tmp_path: Path):
    """Eight cameras asking for 25 detections a second each, on ONE core: the box cannot keep
    up, and its status and log must say so (a real overload, no slowed detector)."""
    cpu = min(os.sched_getaffinity(0))
    cfg = _starved_config(tmp_path, mosquitto, cameras=8)
    log = tmp_path / "agent.log"
    with Subscriber(mosquitto, ["siaga/v1/box-starved/status"]) as sub, log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "siaga", "agent", "run", "--config", str(cfg)],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
        )  # fmt: skip
        try:
            seen = sub.wait_for(lambda ms: any(_overloaded(m.payload) for m in ms), 90)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
        statuses = [StatusMessage.model_validate_json(m.payload) for m in sub.snapshot()
                    if m.payload.startswith(b"{")]  # fmt: skip
    text = log.read_text(errors="replace")
    assert seen, f"no overloaded camera in {len(statuses)} statuses; log: {text[-2000:]}"
    flagged = next(s for s in statuses if any(c.overloaded for c in s.cameras.values()))
    cam = next(c for c in flagged.cameras.values() if c.overloaded)
    assert cam.detect_fps is not None and cam.detect_fps < 0.9 * 25
    assert "OVERLOADED" in text and "detect fps reached" in text


def _overloaded(payload: bytes) -> bool:
    if not payload.startswith(b"{"):
        return False
    return any(c.overloaded for c in StatusMessage.model_validate_json(payload).cameras.values())


def test_an_agent_that_keeps_up_is_not_flagged(mosquitto, tmp_path: Path):
    """The same agent with one camera at 5 detections a second: reached, never overloaded (over
    5 s, so that one frame more or less in a window is 4 %)."""
    cfg = _starved_config(tmp_path, mosquitto, cameras=1, detect_fps=5, window_s=5)
    with Subscriber(mosquitto, ["siaga/v1/box-starved/status"]) as sub:
        proc = subprocess.Popen(
            [sys.executable, "-m", "siaga", "agent", "run", "--config", str(cfg)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            judged = sub.wait_for(lambda ms: len(_rates(ms)) >= 3, 90)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
        rates = _rates(sub.snapshot())
    assert judged, "the status never carried a reached detect fps"
    assert all(fps >= 0.9 * 5 and not over for fps, over in rates), rates


def _rates(msgs: list) -> list[tuple[float, bool]]:
    out = []
    for m in msgs:
        if m.payload.startswith(b"{"):
            cam = StatusMessage.model_validate_json(m.payload).cameras["c0"]
            if cam.detect_fps is not None and cam.overloaded is not None:
                out.append((cam.detect_fps, cam.overloaded))
    return out
