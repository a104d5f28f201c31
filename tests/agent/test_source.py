"""Video sources: pacing, newest-frame hand-out, end of file, reconnects, stalls, corrupt frames."""

from __future__ import annotations

import itertools
import random
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from agent.config import CameraSection, redact_url
from agent.source import VideoSource
from siaga.backoff import backoff_s

FRAME = np.zeros((48, 64, 3), np.uint8)


class FakeCapture:
    """Stands in for cv2.VideoCapture: scripted reads, optional blocking."""

    def __init__(
        self, reads: list[object], *, opened: bool = True, block: threading.Event | None = None
    ):
        self.reads = list(reads)
        self.opened = opened
        self.block = block
        self.released = False

    def isOpened(self) -> bool:
        return self.opened

    def read(self):
        return self.retrieve() if self.grab() else (False, None)

    def grab(self) -> bool:
        """False: the grab fails; None: the grab works but the frame cannot be converted."""
        if self.block is not None:
            self.block.wait(10)
        if not self.reads:
            return False
        self.item = self.reads.pop(0)
        return self.item is not False

    def retrieve(self):
        item = getattr(self, "item", None)
        return (item is not None), item

    def get(self, prop: int) -> float:
        return 0.0

    def set(self, prop: int, value: float) -> bool:
        return False

    def release(self) -> None:
        self.released = True


def camera(source: str = "rtsp://cam/1", **kw) -> CameraSection:
    kw.setdefault("reconnect_min_s", 0.01)
    kw.setdefault("reconnect_max_s", 0.05)
    return CameraSection(id="cam1", source=source, **kw)


def test_backoff_is_capped_and_jittered():
    rng = random.Random(1)
    delays = [backoff_s(a, min_s=1, max_s=60, rng=rng) for a in range(12)]
    assert all(0.5 <= d <= 60 for d in delays)
    assert delays[0] <= 1 and max(delays[-3:]) > 30  # grows to the cap
    assert len({round(d, 6) for d in delays[-4:]}) == 4  # jitter: capped delays still differ


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:secret@10.0.0.5/stream", "rtsp://***@10.0.0.5/stream"),
        ("rtsp://10.0.0.5/stream", "rtsp://10.0.0.5/stream"),
        ("/var/video.mp4", "/var/video.mp4"),
    ],
)
def test_redact_url(url: str, shown: str):
    assert redact_url(url) == shown


def test_reconnects_after_stream_breaks_and_counts_corrupt_frames():
    caps = [FakeCapture([FRAME, FRAME] + [False] * 30), FakeCapture([FRAME] * 3)]
    opened: list[FakeCapture] = []

    def opener(src, **kw):
        cap = caps.pop(0) if caps else FakeCapture([], opened=False)
        opened.append(cap)
        return cap

    src = VideoSource(camera(), opener=opener, seed=0)
    src.start()
    got: list[int] = []
    deadline = time.monotonic() + 5
    while len(got) < 1 or src.stats.reconnects < 1:
        f = src.latest(0.5)
        if f is not None:
            got.append(f.index)
        assert time.monotonic() < deadline
    src.stop()
    assert src.stats.corrupt_frames >= 25 and src.stats.reconnects >= 1
    assert opened[0].released
    assert got == sorted(got)  # indices only move forward across reconnects


def test_unopenable_source_keeps_retrying_without_raising():
    calls = []

    def opener(src, **kw):
        calls.append(time.monotonic())
        return FakeCapture([], opened=False)

    src = VideoSource(camera(), opener=opener, seed=0)
    src.start()
    time.sleep(0.4)
    src.stop()
    assert len(calls) >= 3
    assert src.latest(0.01) is None and not src.stats.connected


def test_stall_watchdog_restarts_a_blocked_capture():
    release = threading.Event()
    stuck = FakeCapture([FRAME], block=release)  # every read blocks until released
    src = VideoSource(camera(stall_timeout_s=0.2), opener=lambda s, **kw: stuck, seed=0)
    src.start()
    time.sleep(0.05)
    assert src.check_stall() is False
    time.sleep(0.3)
    assert src.check_stall() is True and src.stats.stalls == 1
    release.set()
    src.stop()


def test_missing_file_is_retried_not_fatal(tmp_path: Path):
    src = VideoSource(camera(str(tmp_path / "nope.mp4")), seed=0)
    src.start()
    assert src.latest(0.3) is None
    src.stop()
    assert not src.stats.finished


def test_file_plays_at_its_frame_rate_and_finishes(shared: Path, tmp_path: Path):
    import cv2

    clip = tmp_path / "clip.mp4"
    reader = cv2.VideoCapture(str(shared / "video" / "916241958_mask.mp4"))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"mp4v"), 20.0, (388, 218))
    for _ in range(10):
        writer.write(reader.read()[1])
    writer.release()
    src = VideoSource(camera(str(clip)))
    t0 = time.monotonic()
    src.start()
    frames = []
    while (f := src.latest(2.0)) is not None:
        frames.append(f.index)
    elapsed = time.monotonic() - t0
    src.stop()
    assert src.stats.finished and src.stats.frames == 10
    assert elapsed >= 0.4  # 10 frames at 20 fps are played in real time, not all at once
    assert frames == sorted(set(frames)) and frames[-1] == 9


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_http_stream_reconnects_when_server_returns(shared: Path):
    """A real MPEG-TS over HTTP stream from ffmpeg: read, lose the server, come back."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/live.ts"
    video = str(shared / "video" / "916241958_mask.mp4")

    def serve() -> subprocess.Popen:
        return subprocess.Popen(
            ["ffmpeg", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", video,
             "-c:v", "mpeg2video", "-q:v", "5", "-f", "mpegts", "-listen", "1", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    server = serve()
    src = VideoSource(camera(url, read_timeout_s=2, open_timeout_s=2, stall_timeout_s=3), seed=0)
    try:
        src.start()
        assert src.latest(15) is not None, "no frame from the HTTP stream"
        server.kill()
        server.wait()
        deadline = time.monotonic() + 15
        while src.stats.reconnects + src.stats.stalls == 0:
            src.check_stall()
            assert time.monotonic() < deadline, "outage never noticed"
            time.sleep(0.1)
        server = serve()
        got = None
        deadline = time.monotonic() + 20
        while got is None and time.monotonic() < deadline:
            src.check_stall()
            got = src.latest(0.5)
        assert got is not None, "no frame after the server came back"
    finally:
        src.stop()
        server.kill()
        server.wait()


def test_synthetic_source_plays_and_finishes():
    src = VideoSource(camera("synthetic:frames=6,fps=60"))
    src.start()
    got = []
    while (f := src.latest(1.0)) is not None:
        got.append(f)
    src.stop()
    assert src.stats.finished and src.stats.frames == 6
    assert got and got[-1].image.shape == (360, 640, 3)


def test_synthetic_source_rejects_unknown_options():
    from agent.synthetic import parse_options

    assert parse_options("synthetic:frames=10,fps=5") == {"frames": 10.0, "fps": 5.0}
    with pytest.raises(ValueError, match="unknown option 'speed'"):
        parse_options("synthetic:speed=2")


def test_reconnect_attempts_are_spaced_by_growing_delays():
    times: list[float] = []

    def opener(src, **kw):
        times.append(time.monotonic())
        return FakeCapture([], opened=False)

    src = VideoSource(camera(reconnect_min_s=0.02, reconnect_max_s=0.5), opener=opener, seed=3)
    src.start()
    time.sleep(1.2)
    src.stop()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 4
    assert gaps[3] > gaps[0] * 2  # exponential growth (jitter keeps each in [d/2, d])
    assert max(gaps) <= 0.5 + 0.1  # capped


class CountingCapture(FakeCapture):
    """A FakeCapture that counts conversions (retrieve), the cost sampling saves."""

    def __init__(self, reads: list[object]):
        super().__init__(reads)
        self.retrieved = 0

    def retrieve(self):
        self.retrieved += 1
        return super().retrieve()

    def get(self, prop: int) -> float:
        import cv2

        return 50.0 if prop == cv2.CAP_PROP_FPS else 0.0


def test_only_sampled_frames_are_converted(tmp_path: Path):
    """A 50 fps file looked at 5 times a second: every frame grabbed, about one in ten
    converted, and the consumer still gets its 5 frames a second."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")  # a file source must exist; the fake capture plays it
    cap = CountingCapture([FRAME] * 100)  # 2 s at 50 fps
    src = VideoSource(camera(str(clip)), opener=lambda s, **kw: cap, sample_fps=5)
    src.start()
    got = []
    while (f := src.latest(1.0)) is not None:
        got.append(f)
        time.sleep(0.2)  # a consumer that looks every 0.2 s, like the worker
    src.stop()
    assert src.stats.finished and src.stats.frames == 100
    assert 8 <= cap.retrieved <= 16, cap.retrieved  # 10 due in 2 s, a few more on demand
    assert src.stats.retrieved == cap.retrieved and 7 <= len(got) <= 12
    assert [f.index for f in got] == sorted({f.index for f in got})
    assert src.cpu.seconds["decode"] > 0 and src.cpu.seconds["convert"] > 0


def test_a_waiting_consumer_gets_the_next_frame_at_once():
    """Between sampling times a consumer that asks is not made to wait a whole period."""
    src = VideoSource(camera("synthetic:frames=1000,fps=50"), sample_fps=0.5)
    src.start()
    try:
        first = src.latest(2.0)
        t0 = time.monotonic()
        second = src.latest(1.0)  # the schedule says 2 s; the consumer is waiting now
        waited = time.monotonic() - t0
    finally:
        src.stop()
    assert first is not None and second is not None and second.index > first.index
    assert waited < 1.0


def test_grab_failures_without_a_good_image_reconnect():
    """A stream whose frames decode (grab) but never convert is broken: reconnect."""
    caps = [FakeCapture([None] * 40), FakeCapture([FRAME] * 3)]
    src = VideoSource(camera(), opener=lambda s, **kw: caps.pop(0) if caps else FakeCapture(
        [], opened=False), seed=0)  # fmt: skip
    src.start()
    deadline = time.monotonic() + 5
    while src.stats.reconnects < 1:
        src.latest(0.1)
        assert time.monotonic() < deadline, "never reconnected"
    src.stop()
    assert src.stats.corrupt_frames >= 25
