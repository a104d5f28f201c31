"""deploy/prometheus: `promtool check rules`, `promtool test rules` on the scripted series of
rules_test.yml, and `promtool check config` of the scrape configuration.

The unit tests must be able to fail: with every rule's expression replaced by one that never
fires, promtool must report each alert as failed (so each has a firing scenario), and each alert
must also have an evaluation that expects silence. promtool comes from Debian's `prometheus`
package (the Makefile's TEST_SYSDEPS); without it these tests are skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.promql import RULES, RULES_TEST, SCRAPE_CONFIG, rule_exprs

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed "
                                "(apt-get install prometheus; make sysdeps)")  # fmt: skip


def promtool(*args: str, cwd: Path = RULES.parent) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


def test_check_rules():
    r = promtool("check", "rules", RULES.name)
    assert r.returncode == 0, r.stdout + r.stderr
    found = int(re.search(r"SUCCESS: (\d+) rules found", r.stdout).group(1))  # type: ignore[union-attr]
    assert found == len(rule_exprs(RULES.read_text())) == 12  # the reader sees every rule


def test_unit_tests_pass():
    r = promtool("test", "rules", RULES_TEST.name)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


def test_every_alert_is_tested_firing_and_quiet():
    tests = RULES_TEST.read_text()
    for alert in rule_exprs(RULES.read_text()):
        quiet = re.search(rf"alertname: {alert}, exp_alerts: \[\]", tests)
        firing = re.search(rf"alertname: {alert}\n\s+exp_alerts:\n\s+- exp_labels:", tests)
        assert quiet and firing, f"{alert}: needs a quiet and a firing evaluation"


def test_unit_tests_fail_when_no_rule_fires(tmp_path: Path):
    text = RULES.read_text()
    exprs = rule_exprs(text)
    # Replace each expression (plain or folded) by one that is never true.
    mutated = re.sub(r"expr: >-\n(?:\s{10}.*\n)+", "expr: vector(0) > 1\n", text)
    mutated = re.sub(r"expr: (?!vector\(0\) > 1).*", "expr: vector(0) > 1", mutated)
    assert set(rule_exprs(mutated).values()) == {"vector(0) > 1"}
    (tmp_path / RULES.name).write_text(mutated)
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    r = promtool("test", "rules", RULES_TEST.name, cwd=tmp_path)
    assert r.returncode != 0
    failed = set(re.findall(r"alertname: (\w+), time:", r.stdout + r.stderr))
    assert failed == set(exprs)


def test_scrape_config(tmp_path: Path):
    # As installed: the token file and the agents' target list exist beside it.
    token = tmp_path / "siaga-central.token"
    token.write_text("secret\n")
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "agents.yml").write_text(
        '- targets: ["10.20.1.15:9108"]\n  labels: {agent: "rt05-pasar-johar"}\n'
    )
    text = SCRAPE_CONFIG.read_text().replace("/etc/prometheus/siaga-central.token", str(token))
    (tmp_path / "prometheus.yml").write_text(text)
    shutil.copy(RULES, tmp_path / RULES.name)
    r = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr
