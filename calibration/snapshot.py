"""`siaga calibrate snapshot`: grab frames from a camera or a clip into a local folder.

Frames go to local disk only, for the technician on the box; nothing is sent anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from agent.config import CameraSection, load_config
from agent.source import Capture, open_capture, valid_frame
from siaga.settings import ConfigError

# A live stream that yields nothing for this many reads in a row is given up on.
MAX_FAILED_READS = 50


def camera_from_config(config: Path, camera_id: str) -> CameraSection:
    """The named camera of an agent config, or ConfigError listing the known ones."""
    cfg = load_config(config)
    for cam in cfg.cameras:
        if cam.id == camera_id:
            return cam
    known = ", ".join(c.id for c in cfg.cameras)
    raise ConfigError(f"{config}: no camera {camera_id!r}; cameras: {known}")


def iter_frames(cap: Capture, *, count: int, every: int) -> Iterator[np.ndarray]:
    """Up to `count` frames, one in every `every` read; stops at the end or a dead stream."""
    read = failed = 0
    taken = 0
    while taken < count and failed < MAX_FAILED_READS:
        ok, image = cap.read()
        if not ok or not valid_frame(image):
            failed += 1
            if not ok and failed >= 3 and read > 0:
                return  # a file at its end: further reads will not help
            continue
        failed = 0
        if read % every == 0:
            taken += 1
            yield image
        read += 1


def save_frames(
    frames: Iterator[np.ndarray], out_dir: Path, *, prefix: str, clock: Callable[[], float]
) -> list[Path]:
    """Write frames as numbered JPEGs in a private folder; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(clock()))
    paths = []
    for i, image in enumerate(frames):
        path = out_dir / f"{prefix}_{stamp}_{i:04d}.jpg"
        if not cv2.imwrite(str(path), image):
            raise OSError(f"cannot write {path}")
        paths.append(path)
    return paths


def snapshot(
    *,
    source: str,
    prefix: str,
    out_dir: Path,
    count: int,
    every: int = 1,
    open_timeout_s: float = 10.0,
    read_timeout_s: float = 10.0,
    opener: Callable[..., Capture] = open_capture,
) -> list[Path]:
    """Open a source, save `count` frames to `out_dir`; raises OSError if it cannot be read."""
    cap = opener(source, open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s)
    try:
        if not cap.isOpened():
            raise OSError(f"cannot open {source}")
        paths = save_frames(
            iter_frames(cap, count=count, every=every), out_dir, prefix=prefix, clock=time.time
        )
    finally:
        cap.release()
    if not paths:
        raise OSError(f"no readable frame from {source}")
    return paths
