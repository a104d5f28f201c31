"""Opening a camera with OpenCV: timeouts, decoding threads and opt-in hardware decoding.

Why its own module: what a frame costs is decided here, when the capture is opened. A box serves
many cameras, so each gets ONE FFmpeg decoding thread by default (FFmpeg's default, a thread per
core, spends more CPU per frame in hand-offs between threads; `decode_threads` changes it).
Hardware decoding is asked for with OpenCV's `CAP_PROP_HW_ACCELERATION`; a named API that cannot
start (no such device, or a build without it) makes OpenCV refuse to open, so the camera is then
opened again in software and the reason logged and kept in `Decoder` for the status.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import cv2

from agent.synthetic import SyntheticCapture

log = logging.getLogger(__name__)

# cameras.hw_accel → OpenCV's VideoAccelerationType
HW_ACCEL = {
    "none": cv2.VIDEO_ACCELERATION_NONE,
    "any": cv2.VIDEO_ACCELERATION_ANY,
    "vaapi": cv2.VIDEO_ACCELERATION_VAAPI,
    "d3d11": cv2.VIDEO_ACCELERATION_D3D11,
    "mfx": cv2.VIDEO_ACCELERATION_MFX,
    "drm": cv2.VIDEO_ACCELERATION_DRM,
}
HW_NAMES = {v: k for k, v in HW_ACCEL.items()}


class Capture(Protocol):
    """What the source needs of cv2.VideoCapture (a fake stands in for it in tests).

    `grab` demuxes and decodes the next frame; `retrieve` converts the grabbed frame to a BGR
    image, which only the frames the worker will look at need (agent/source.py)."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, Any]: ...
    def grab(self) -> bool: ...
    def retrieve(self) -> tuple[bool, Any]: ...
    def get(self, prop: int) -> float: ...
    def set(self, prop: int, value: float) -> bool: ...
    def release(self) -> None: ...


@dataclass(frozen=True)
class Decoder:
    """How a camera's frames are decoded, as the status reports it (`decoder`)."""

    asked: str = "none"  # cameras.hw_accel
    used: str = "software"  # "software" or the hardware API OpenCV reports in use
    note: str = ""  # why hardware decoding is not in use although asked for

    def describe(self) -> str:
        """One short line: "software", "vaapi", or "software (vaapi unavailable: …)"."""
        return f"{self.used} ({self.note})" if self.note else self.used


def open_capture(
    source: str,
    *,
    open_timeout_s: float,
    read_timeout_s: float,
    threads: int = 1,
    hw_accel: str = "none",
) -> Capture:
    """Open a file, URL or `usb:N` with OpenCV; timeouts and threads apply to FFmpeg.

    `threads` 0 lets FFmpeg choose (a thread per core). `hw_accel` other than "none" asks for
    hardware decoding; callers that must know whether they got it use `open_decoding`."""
    return open_decoding(source, open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s,
                         threads=threads, hw_accel=hw_accel)[0]  # fmt: skip


def open_decoding(
    source: str,
    *,
    open_timeout_s: float,
    read_timeout_s: float,
    threads: int = 1,
    hw_accel: str = "none",
) -> tuple[Capture, Decoder]:
    """`open_capture`, and how it decodes. Hardware that cannot be had falls back to software."""
    if source.startswith("usb:"):
        return cv2.VideoCapture(int(source[4:])), Decoder(hw_accel)
    if source.startswith("synthetic:"):
        return SyntheticCapture(source), Decoder(hw_accel)
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout_s * 1000),
    ]  # fmt: skip
    if threads > 0:
        params += [cv2.CAP_PROP_N_THREADS, threads]
    if hw_accel == "none":
        return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params), Decoder()
    hw = [cv2.CAP_PROP_HW_ACCELERATION, HW_ACCEL[hw_accel]]
    cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params + hw)
    if cap.isOpened():
        used = HW_NAMES.get(int(cap.get(cv2.CAP_PROP_HW_ACCELERATION)), "none")
        if used != "none":
            return cap, Decoder(hw_accel, used)
        # "any" with no usable device: OpenCV opened it in software by itself.
        return cap, Decoder(hw_accel, note=f"{hw_accel}: no hardware decoder found")
    cap.release()
    # A named API that cannot start makes OpenCV refuse the whole open: software instead.
    cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
    note = f"{hw_accel} unavailable, decoding in software"
    return cap, Decoder(hw_accel, note=note if cap.isOpened() else "")
