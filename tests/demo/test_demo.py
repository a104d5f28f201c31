"""The README's run command (`siaga demo`): the whole chain, with and without ../shared."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.mqtt_broker import mosquitto_binary

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
# The demo's closing line per camera.
CAMERA_LINE = re.compile(
    r"^  (?P<cam>cam\d+) \((?P<video>[^)]+)\): people seen (?P<seen>\d+), masked (?P<masked>\d+), "
    r"unmasked (?P<unmasked>\d+), not judged (?P<not_judged>\d+); (?P<view>.+)$",
    re.MULTILINE,
)


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
    # the dashboard's and city page's addresses; no terminal here, so it ends after the scenario
    assert re.search(r"^dashboard: http://127\.0\.0\.1:\d+/dashboard ", out.stdout, re.M)
    assert re.search(r"^city page: http://127\.0\.0\.1:\d+/kota ", out.stdout, re.M)
    assert "serving the dashboard" not in out.stdout
    assert "civic: SYNTHETIC history of the 26 days before for the city page" in out.stdout
    # The synthetic civic samples drive a decision (beds over 80 %) and the merged summary.
    assert "civic: SYNTHETIC sample data" in out.stdout
    assert "decision: open (critical) bed_occupancy in city" in out.stdout
    assert "decision: open (warn) ppkm_level in Semarang Timur: PPKM level 3" in out.stdout
    assert '"occupancy": 0.8333' in out.stdout
    total = re.search(r"count windows delivered; people seen (\d+), masked (\d+)", out.stdout)
    assert total is not None and int(total[1]) >= 3
    cams = {m["cam"]: m for m in CAMERA_LINE.finditer(out.stdout)}
    assert sorted(cams) == ["cam1", "cam2", "cam3", "cam4"], out.stdout[-3000:]
    # three close-up clips, each with one person
    assert sum(int(cams[c]["seen"]) for c in ("cam1", "cam2", "cam3")) >= 2
    # The wide campus view: people seen, none judged, the camera not suitable, and why.
    wide = cams["cam4"]
    assert wide["video"] == "vtest_sda.mp4" and int(wide["seen"]) >= 1
    assert wide["masked"] == wide["unmasked"] == "0" and wide["not_judged"] == wide["seen"]
    assert wide["view"].startswith("camera NOT suitable: wajah terlalu kecil / faces too small")
    assert re.search(r"  cam4: suitable False \(newest window\); judgement False", out.stdout)


def test_demo_without_shared_uses_a_synthetic_camera(tmp_path: Path):
    out = run_demo(tmp_path, tmp_path / "no-shared")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "using a synthetic camera" in out.stderr
    assert "count windows delivered; people seen 0" in out.stdout
