"""No dangling names: every metric the alert rules and the Grafana board read exists in the live
/metrics output of a real agent (on a real clip, publishing to a real Mosquitto) and of a real
central (ingesting those counts), both scraped over HTTP. Both outputs parse with
prometheus_client's parser. `up` is Prometheus's own (tests/deploy/promql.py SYNTHETIC)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from central.service import CentralService
from tests.agent.live_agent import agent_config, metrics_url, running_agent
from tests.agent.test_worker import make_clip
from tests.central.api_fixtures import reader_headers
from tests.central.test_service import make_config
from tests.deploy.promql import SYNTHETIC, family_candidates, referenced_names
from tests.mqtt_broker import MosquittoBroker, wait_until
from tests.prom import scrape, value

pytestmark = pytest.mark.slow


def names_in(text: str) -> set[str]:
    """Family and sample names of a parsed body."""
    out: set[str] = set()
    for family in text_string_to_metric_families(text):
        out.add(family.name)
        out.update(s.name for s in family.samples)
    return out


def test_every_rule_and_panel_name_is_served(mosquitto: MosquittoBroker, shared: Path,
                                             tmp_path: Path):  # fmt: skip
    clip = make_clip(shared / "video" / "916241958_mask.mp4", tmp_path / "a.mp4", frames=40,
                     fps=25)  # fmt: skip
    svc = CentralService(make_config(mosquitto, tmp_path))
    runner = threading.Thread(target=svc.run, daemon=True)
    runner.start()
    try:
        assert svc.collector.wait_ready(10) and svc.api_url is not None
        with running_agent(agent_config(mosquitto, tmp_path, [clip])) as agent:
            url = metrics_url(agent)
            # Live: the agent has inferred, and central has stored one of its windows.
            assert wait_until(lambda: (value(scrape(url), "siaga_agent_frames_inferred_total",
                                             camera="cam0") or 0) > 0, timeout_s=60)  # fmt: skip
            stored = wait_until(lambda: svc.collector.stored > 0, timeout_s=30)
            assert stored, svc.collector.metrics()
            agent_text = scrape(url)
        central_text = scrape(f"{svc.api_url}/metrics", reader_headers(svc.engine))
    finally:
        svc.stop()
        runner.join(timeout=15)
    served = names_in(agent_text) | names_in(central_text)
    used = referenced_names()
    assert len(used) >= 20  # the reader found the rules' and panels' names
    dangling = {n: sorted(where) for n, where in used.items()
                if n not in SYNTHETIC and not family_candidates(n) & served}  # fmt: skip
    assert not dangling, f"named in deploy/ but not served: {dangling}"
    # And they carry data where a live system has it.
    assert (value(central_text, "siaga_central_ingest_latency_seconds_count") or 0) > 0
    assert (value(agent_text, "siaga_agent_inference_seconds_count", camera="cam0") or 0) > 0
