"""A box with a vendor build of onnxruntime keeps it: `pip install --no-deps siaga`, then the
requirements `python -m siaga.extras` prints (README, "Vendor builds").

The case tested is onnxruntime-openvino (Intel boxes), which installs the `onnxruntime` module
under another distribution name: a plain `pip install siaga` would put PyPI's onnxruntime over
it. The test first shows that pip would indeed do so, then that the documented way does not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.install.conftest import Venv, clean_env, make_venv, run

pytestmark = pytest.mark.slow

VENDOR = "onnxruntime-openvino"


@pytest.fixture(scope="module")
def vendor_venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return make_venv(tmp_path_factory.mktemp("venv") / "vendor", VENDOR)


def test_vendor_onnxruntime_is_kept(vendor_venv: Venv, wheel: Path, shared: Path,
                                    tmp_path: Path) -> None:  # fmt: skip
    # The problem: a plain install would add PyPI's onnxruntime over the vendor's module.
    report = tmp_path / "plain.json"
    vendor_venv.pip("install", "--dry-run", "-q", "--report", report, wheel)
    plain = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert "onnxruntime" in plain

    # The documented way.
    vendor_venv.pip("install", "-q", "--no-deps", wheel)
    cp = run([vendor_venv.python, "-m", "siaga.extras"], env=clean_env())
    needed = cp.stdout.split()
    assert not any(re.match(r"onnxruntime\b", r) for r in needed), needed
    assert any(r.startswith("opencv-python-headless") for r in needed), needed
    assert f"provided by {VENDOR}" in cp.stderr, cp.stderr
    (tmp_path / "req.txt").write_text(cp.stdout)
    vendor_venv.pip("install", "-q", "-r", tmp_path / "req.txt")

    installed = vendor_venv.packages()
    assert VENDOR in installed and "onnxruntime" not in installed, sorted(installed)
    providers = run([vendor_venv.python, "-c",
                     "import onnxruntime; print(onnxruntime.get_available_providers())"],
                    env=clean_env()).stdout  # fmt: skip
    assert "OpenVINOExecutionProvider" in providers, providers
    image = shared / "data" / "andrewmvd" / "images" / "maksssksksss0.jpg"
    out = tmp_path / "dets.jsonl"
    run([vendor_venv.siaga, "detect", image, "--jsonl", out], env=clean_env(), timeout=120)
    assert json.loads(out.read_text())["detections"]
