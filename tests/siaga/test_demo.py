"""The README's run command (`siaga demo`): the whole chain, with and without ../shared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.mqtt_broker import mosquitto_binary

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def run_demo(tmp_path: Path, shared: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIAGA_SHARED": str(shared), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "siaga", "demo", "--workdir", str(tmp_path / "demo")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def test_demo_runs_the_whole_chain(shared: Path, tmp_path: Path):
    out = run_demo(tmp_path, shared)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "count windows delivered" in out.stdout
    assert "central stored" in out.stdout and "summary city Kota Semarang" in out.stdout
    assert "GET http://127.0.0.1:" in out.stdout
    # The synthetic civic samples drive a decision (beds over 80 %) and the merged summary.
    assert "civic: SYNTHETIC sample data" in out.stdout
    assert "decision: open (critical) bed_occupancy in city" in out.stdout
    assert "decision: open (warn) ppkm_level in Semarang Timur: PPKM level 3" in out.stdout
    assert '"occupancy": 0.8333' in out.stdout
    people = int(out.stdout.split("people seen ")[-1].split(",")[0])
    assert people >= 2  # three clips, each with one person


def test_demo_without_shared_uses_a_synthetic_camera(tmp_path: Path):
    out = run_demo(tmp_path, tmp_path / "no-shared")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "using a synthetic camera" in out.stderr
    assert "count windows delivered; people seen 0" in out.stdout
