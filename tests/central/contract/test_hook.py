"""The payload hook of tests/conftest.py (tests/contract_site) catches a drifting summary or
alert, in this process and in a subprocess, and passes a good one."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from central.rules.alerts import AlertEvent
from central.summaries import Summary
from tests.conftest import REPO
from tests.contract_site.contract_check import read_violations

T = datetime(2021, 7, 10, 5, tzinfo=UTC)


def _taken(path: Path) -> list[dict[str, Any]]:
    """The violations recorded so far, then cleared (this test made them on purpose)."""
    found = read_violations(path)
    path.unlink(missing_ok=True)
    return found


def bed_alert(**figures: object) -> AlertEvent:
    figs = {"beds": 10, "used": 9, "occupancy": 0.9, "warn": 0.6, "critical": 0.8} | figures
    return AlertEvent("open", 1, "bed_occupancy", "city", "critical", "open", "beds 90 %", figs,
                      T, T, None)  # fmt: skip


def test_in_process(published_payloads_follow_the_contract: Path) -> None:
    from central import service

    path = published_payloads_follow_the_contract
    bed_alert().to_bytes()
    assert _taken(path) == []
    bed_alert(occupancy="90 %").to_bytes()  # a string where the contract says a number
    service._dump(Summary("city", "", {"schema": "siaga.summary/1", "level": "city"}))
    found = _taken(path)
    assert [v["what"] for v in found] == ["alert open bed_occupancy city", "summary city ''"]
    assert found[0]["problems"] == ["figures/occupancy: '90 %' is not of type 'number'"]
    assert any("'periods' is a required property" in p for p in found[1]["problems"])


def test_in_a_subprocess(published_payloads_follow_the_contract: Path) -> None:
    """`siaga demo` and `siaga central run` publish from subprocesses: checked there too."""
    path = published_payloads_follow_the_contract
    code = (
        "from central.service import _dump; from central.summaries import Summary; "
        "_dump(Summary('kelurahan', 'x', {'schema': 'siaga.summary/1', 'level': 'kelurahan'}))"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)
    found = _taken(path)
    assert [v["what"] for v in found] == ["summary kelurahan 'x'"]


BAD_TEST = """
from datetime import UTC, datetime

from central.rules.alerts import AlertEvent
from tests.conftest import published_payloads_follow_the_contract  # the autouse fixture


def test_publishes_a_bad_alert():
    t = datetime(2021, 7, 10, tzinfo=UTC)
    AlertEvent("open", 1, "ppkm_level", "33.74.01", "warn", "open", "r", {}, t, t, None).to_bytes()
"""


def test_a_violation_fails_the_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The autouse fixture turns a recorded violation into a failed test (an error at teardown)."""
    (tmp_path / "test_bad.py").write_text(BAD_TEST)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         str(tmp_path / "test_bad.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout[-3000:]
    assert "1 passed, 1 error" in out.stdout, out.stdout[-3000:]
    assert "1 published payload(s) break docs/schema" in out.stdout
    assert "alert open ppkm_level 33.74.01: figures: 'bounds' is a required property" in out.stdout
