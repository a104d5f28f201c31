"""`siaga calibrate snapshot`: frames from a clip or a configured camera, to local disk only."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.snapshot import iter_frames
from siaga.cli import main


class FakeCapture:
    """Yields `n` frames, with unreadable ones at the given indices, then the end."""

    def __init__(self, n: int, bad: tuple[int, ...] = ()) -> None:
        self.n, self.bad, self.i = n, bad, 0

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.i += 1
        if self.i > self.n:
            return False, None
        if self.i - 1 in self.bad:
            return True, None
        return True, np.full((4, 4, 3), self.i - 1, np.uint8)


@pytest.mark.parametrize(
    ("n", "count", "every", "bad", "values"),
    [
        (10, 3, 1, (), [0, 1, 2]),
        (10, 3, 4, (), [0, 4, 8]),
        (5, 10, 1, (), [0, 1, 2, 3, 4]),  # the clip ends first
        (6, 3, 1, (1,), [0, 2, 3]),  # an unreadable frame is skipped
    ],
)
def test_iter_frames(n: int, count: int, every: int, bad: tuple, values: list[int]) -> None:
    frames = list(iter_frames(FakeCapture(n, bad), count=count, every=every))  # type: ignore[arg-type]
    assert [int(f[0, 0, 0]) for f in frames] == values


def _clip(path: Path, frames: int = 12) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    for i in range(frames):
        w.write(np.full((48, 64, 3), i * 10, np.uint8))
    w.release()
    return path


def test_snapshot_from_video_file(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "gate.avi")
    out = tmp_path / "snaps"
    assert main(["calibrate", "snapshot", "--video", str(clip), "--out", str(out),
                 "--count", "4", "--every", "3"]) == 0  # fmt: skip
    files = sorted(out.glob("gate_*.jpg"))
    first = cv2.imread(str(files[0]))
    assert len(files) == 4 and first is not None and first.shape == (48, 64, 3)
    assert out.stat().st_mode & 0o077 == 0  # a private folder


def test_snapshot_from_configured_camera(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(
        '[agent]\nid = "box1"\nsite = "Johar"\nkelurahan_code = "33.74.01.1001"\n'
        '[[cameras]]\nid = "gate"\nsource = "synthetic:frames=20"\n'
    )
    out = tmp_path / "snaps"
    argv = ["calibrate", "snapshot", "--config", str(cfg), "--out", str(out), "--count", "2"]
    assert main([*argv, "--camera", "gate"]) == 0
    assert len(list(out.glob("gate_*.jpg"))) == 2
    assert main([*argv, "--camera", "nope"]) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--video", "missing.mp4"], "not found"),
        (["--camera", "gate"], "needs --config"),
        (["--video", "x.mp4", "--count", "0"], "at least 1"),
    ],
)
def test_snapshot_errors(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", "snapshot", *extra]) == 2
    assert message in capsys.readouterr().err
