"""Reading Prometheus text in tests: prometheus_client's own parser, never string matching."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def scrape(url: str, headers: dict[str, str] | None = None) -> str:
    """GET a /metrics body (200 expected)."""
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
        return str(r.read().decode())


def samples(text: str) -> dict[str, list[Sample]]:
    """Every sample of a Prometheus text body by sample name."""
    out: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    """The one sample of name whose labels include `labels`, else None."""
    found = [s.value for s in samples(text).get(name, []) if labels.items() <= s.labels.items()]
    return found[0] if len(found) == 1 else None
