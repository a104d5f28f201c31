"""Opening cameras (agent/capture.py): decoding threads, and hardware decoding that falls back
to software where there is no device (this machine has none: no /dev/dri)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import pytest

from agent.capture import Decoder, open_decoding
from agent.config import CameraSection
from agent.source import VideoSource

CLIP = "video/gituatu_nomask.mp4"


def _open(shared: Path, **kw):
    return open_decoding(str(shared / CLIP), open_timeout_s=5, read_timeout_s=5, **kw)


def test_one_decoding_thread_per_camera_by_default(shared: Path):
    cap, decoder = _open(shared)
    try:
        assert cap.isOpened() and cap.get(cv2.CAP_PROP_N_THREADS) == 1
        assert decoder == Decoder() and decoder.describe() == "software"
    finally:
        cap.release()
    cap, _ = _open(shared, threads=0)  # FFmpeg chooses
    try:
        assert cap.get(cv2.CAP_PROP_N_THREADS) >= 1 and cap.read()[0]
    finally:
        cap.release()


@pytest.mark.skipif(Path("/dev/dri").exists(), reason="this machine has a GPU device node")
@pytest.mark.parametrize("api", ["vaapi", "d3d11", "mfx", "drm"])
def test_a_named_hardware_decoder_that_cannot_start_falls_back_to_software(shared: Path, api):
    cap, decoder = _open(shared, hw_accel=api)
    try:
        assert cap.isOpened() and cap.read()[0], "software decoding must still work"
    finally:
        cap.release()
    assert decoder.used == "software" and decoder.asked == api
    assert decoder.describe() == f"software ({api} unavailable, decoding in software)"


@pytest.mark.skipif(Path("/dev/dri").exists(), reason="this machine has a GPU device node")
def test_any_hardware_decoder_without_a_device_decodes_in_software(shared: Path):
    cap, decoder = _open(shared, hw_accel="any")
    try:
        assert cap.isOpened() and cap.read()[0]
    finally:
        cap.release()
    assert decoder.used == "software" and "no hardware decoder found" in decoder.note


@pytest.mark.skipif(Path("/dev/dri").exists(), reason="this machine has a GPU device node")
def test_a_camera_asking_for_vaapi_runs_in_software_and_says_so(
    shared: Path, caplog: pytest.LogCaptureFixture
):
    cam = CameraSection(id="gate", source=str(shared / CLIP), hw_accel="vaapi", loop=True)
    src = VideoSource(cam, sample_fps=5)
    with caplog.at_level(logging.INFO, logger="agent.source"):
        src.start()
        try:
            assert src.latest(10) is not None, "no frame in software either"
        finally:
            src.stop()
    assert src.decoder.describe() == "software (vaapi unavailable, decoding in software)"
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("camera gate: hardware decoding vaapi unavailable" in r.getMessage()
               for r in warned)  # fmt: skip


def test_bad_hw_accel_and_thread_settings_are_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="hw_accel"):
        CameraSection(id="c", source="rtsp://x/1", hw_accel="cuda")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="decode_threads"):
        CameraSection(id="c", source="rtsp://x/1", decode_threads=-1)
    assert time.monotonic() > 0
