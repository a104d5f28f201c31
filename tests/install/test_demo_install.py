"""`make demo` installs what the demo needs and nothing else: `siaga[central]` and a broker.

The install set is read from what make would run on a fresh checkout (`make -n -B demo`), then
resolved by pip (`--dry-run --report`) against the built wheel, so a test tool or torch sneaking
into the demo's extras, or Chromium into its Debian packages, fails here.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.install.conftest import INSTALL_TIMEOUT_S, NOT_ON_CENTRAL, clean_env, run

pytestmark = pytest.mark.slow


def demo_commands() -> list[str]:
    """The shell commands `make demo` runs from scratch (-B: as if nothing were built)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return run(["make", "-n", "-B", "demo"], cwd=REPO).stdout.splitlines()


def test_demo_installs_the_central_extra_and_a_broker_only(wheel: Path, tmp_path: Path) -> None:
    lines = demo_commands()
    spec = re.compile(r"pip install -q (?:-e )?'?(\.\[[^\]]*\])'?$")
    pip_specs = [m.group(1) for ln in lines if (m := spec.search(ln))]
    assert pip_specs == [".[central]"], lines
    debs = {pair.split(":")[1] for ln in lines if (m := re.search(r"for d in ([^;]+);", ln))
            for pair in m.group(1).split()}  # fmt: skip
    assert debs == {"mosquitto"}, debs
    assert not any(re.search(r"pip install .*torch", ln) for ln in lines), lines

    extras = pip_specs[0][2:-1]
    report = tmp_path / "report.json"
    run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q",
         "--report", report, f"{wheel}[{extras}]"],
        timeout=INSTALL_TIMEOUT_S, env=clean_env())  # fmt: skip
    names = {re.sub(r"[-_.]+", "-", item["metadata"]["name"]).lower()
             for item in json.loads(report.read_text())["install"]}  # fmt: skip
    assert {"siaga", "sqlalchemy", "fastapi", "paho-mqtt", "onnxruntime"} <= names
    assert not NOT_ON_CENTRAL & names, sorted(NOT_ON_CENTRAL & names)
