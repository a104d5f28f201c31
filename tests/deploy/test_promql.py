"""The name reading of tests/deploy/promql.py on examples (so the no-dangling-names check
cannot pass by reading nothing)."""

from __future__ import annotations

import pytest

from tests.deploy.promql import metric_names, rule_exprs


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('up{job="siaga-agent"} == 0', {"up"}),
        ("histogram_quantile(0.5, sum by (le) (rate(a_seconds_bucket[5m]))) > 120",
         {"a_seconds_bucket"}),
        ("a_depth > 30 and delta(a_depth[15m]) > 0", {"a_depth"}),
        ("time() - max(b_timestamp_seconds) > 87300", {"b_timestamp_seconds"}),
        ("x_expiry - time() < 14 * 86400", {"x_expiry"}),
        ('count(up{job="s"} == 0) or vector(0)', {"up"}),
        ("sum by (instance, camera) (rate(f_total[$__rate_interval]))", {"f_total"}),
        ('rate(p_total{job=~"siaga-.*"}[1m]) / on (instance) group_left (x) q', {"p_total", "q"}),
        ("a > bool 1 unless b offset 5m", {"a", "b"}),
    ],
)  # fmt: skip
def test_metric_names(expr: str, names: set[str]):
    assert metric_names(expr) == names


def test_rule_exprs_plain_and_folded():
    text = """groups:
  - name: g
    rules:
      - alert: One
        expr: a > 1
        for: 5m
      - alert: Two
        expr: >-
          sum(rate(b[5m]))
          > 2
        labels: {severity: warning}
"""
    assert rule_exprs(text) == {"One": "a > 1", "Two": "sum(rate(b[5m])) > 2"}
