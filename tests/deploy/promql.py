"""Metric names in PromQL expressions, and the expressions of deploy/prometheus/rules.yml and
deploy/grafana/siaga-fleet.json: what tests/deploy checks against live /metrics output.

A regex reading, not a PromQL parser: strings, label matchers, ranges, label lists (`by (...)`,
`on (...)`) and Grafana's `$variables` are removed, then every identifier not called as a
function and not a keyword is a metric name. tests/deploy/test_promql.py pins it on examples.
The rules file is read without a YAML library (none is a dependency): `expr:` values, plain or
folded (`>-`), and the count is checked against promtool's own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules.yml"
RULES_TEST = REPO / "deploy" / "prometheus" / "rules_test.yml"
SCRAPE_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "siaga-fleet.json"

KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                      "group_left", "group_right", "inf", "nan", "Inf", "NaN"})  # fmt: skip
# Series Prometheus makes itself for every target, never in a target's output.
SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created", "_info")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)
    found = re.findall(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()", e)
    return {n for n in found if n not in KEYWORDS}


def family_candidates(name: str) -> set[str]:
    """The names under which a sample name may appear in parsed output (histogram and counter
    samples belong to a family without their suffix)."""
    out = {name}
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            out.add(name.removesuffix(suffix))
    return out


def rule_exprs(text: str) -> dict[str, str]:
    """alert name → expr of a rules file written like deploy/prometheus/rules.yml."""
    lines = text.splitlines()
    out: dict[str, str] = {}
    alert: str | None = None
    for i, line in enumerate(lines):
        m = re.match(r"\s*- alert:\s*(\S+)", line)
        if m:
            alert = m.group(1)
            continue
        m = re.match(r"(\s*)expr:\s*(.*)$", line)
        if not m or alert is None:
            continue
        indent, value = len(m.group(1)), m.group(2).strip()
        if value in (">", ">-", "|", "|-"):
            block = []
            for nxt in lines[i + 1 :]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                block.append(nxt.strip())
            value = " ".join(b for b in block if b)
        out[alert] = value
        alert = None
    return out


def dashboard_exprs(board: dict) -> list[str]:
    """Every target expression of a dashboard's panels (rows' nested panels too)."""
    out = []
    for panel in board.get("panels", []):
        for sub in [panel, *panel.get("panels", [])]:
            out += [t["expr"] for t in sub.get("targets", []) if "expr" in t]
    return out


def referenced_names() -> dict[str, set[str]]:
    """Metric name → where it is used (alert or panel title), rules and dashboard together."""
    used: dict[str, set[str]] = {}
    for alert, expr in rule_exprs(RULES.read_text()).items():
        for n in metric_names(expr):
            used.setdefault(n, set()).add(f"rule {alert}")
    board = json.loads(DASHBOARD.read_text())
    for panel in board["panels"]:
        for t in panel.get("targets", []):
            for n in metric_names(t["expr"]):
                used.setdefault(n, set()).add(f"panel {panel['title']!r}")
    return used
