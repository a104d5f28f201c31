"""What `siaga detect` reads: image files, folders of them, and video files frame by frame."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".ts"})


@dataclass(frozen=True)
class Frame:
    """One decoded image or video frame, or the reason it could not be had."""

    source: Path
    frame_index: int | None
    image: np.ndarray | None
    error: str | None = None


def is_video(path: Path) -> bool:
    """Decide by suffix whether a file is read as a video."""
    return path.suffix.lower() in VIDEO_SUFFIXES


def expand(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Files to process (folders expanded, sorted) and a message for each path that isn't there."""
    files: list[Path] = []
    errors: list[str] = []
    for p in paths:
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
            )
            if not found:
                errors.append(f"{p}: folder holds no image or video files")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            errors.append(f"{p}: no such file or folder")
    return files, errors


def frame_count(path: Path) -> int:
    """Frames a video says it has (1 for an image; 0 when unknown)."""
    if not is_video(path):
        return 1
    cap = cv2.VideoCapture(str(path))
    try:
        return max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        cap.release()


def read_image(path: Path) -> Frame:
    """Decode one image file; corrupt or non-image files give an error, never an exception."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        return Frame(path, None, None, f"{path}: cannot read: {exc.strerror or exc}")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        return Frame(path, None, None, f"{path}: not a decodable image (corrupt or unsupported)")
    return Frame(path, None, image)


def read_video(path: Path) -> Iterator[Frame]:
    """Yield every frame of a video file; a file OpenCV cannot open gives one error frame."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            yield Frame(path, None, None, f"{path}: cannot open as video (corrupt or unsupported)")
            return
        index = 0
        while True:
            ok, image = cap.read()
            if not ok or image is None:
                if index == 0:
                    yield Frame(path, None, None, f"{path}: video has no decodable frame")
                return
            yield Frame(path, index, image)
            index += 1
    finally:
        cap.release()


def frames(files: list[Path]) -> Iterator[Frame]:
    """Every image and video frame of the given files, in order."""
    for f in files:
        if is_video(f):
            yield from read_video(f)
        else:
            yield read_image(f)
