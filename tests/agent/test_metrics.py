"""The agent's Prometheus endpoint, scraped over HTTP from real agents working on real clips.

Two agents run in one process (as tests and tools do): each endpoint must serve its own cameras
only (a registry per agent, never the global one), parse with prometheus_client's parser, carry
histograms of inference time and frame-to-count latency in seconds, and the process metrics.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.metrics import MetricsServer
from tests.agent.live_agent import agent_config, metrics_url, running_agent
from tests.agent.test_worker import make_clip
from tests.mqtt_broker import MosquittoBroker, wait_until
from tests.prom import samples, scrape, value

pytestmark = pytest.mark.slow


@pytest.fixture
def clip(shared: Path, tmp_path: Path) -> Path:
    return make_clip(shared / "video" / "916241958_mask.mp4", tmp_path / "a.mp4", frames=40,
                     fps=25)  # fmt: skip


def inferred(url: str) -> bool:
    text = scrape(url)
    return (value(text, "siaga_agent_inference_seconds_count", camera="cam0") or 0) >= 3


def test_two_agents_in_one_process_each_serve_their_own(mosquitto: MosquittoBroker,
                                                        clip: Path, tmp_path: Path):  # fmt: skip
    a_cfg = agent_config(mosquitto, tmp_path, [clip], agent_id="box-a")
    b_cfg = agent_config(mosquitto, tmp_path, [clip, clip], agent_id="box-b")
    with running_agent(a_cfg) as a, running_agent(b_cfg) as b:
        urls = [metrics_url(s) for s in (a, b)]
        for s in (a, b):  # loopback unless [health] metrics_host says otherwise
            assert s.health.metrics is not None and s.health.metrics.bound_host == "127.0.0.1"
        for url in urls:
            assert wait_until(partial(inferred, url), timeout_s=60), scrape(url)
        texts = [scrape(u) for u in urls]
    for text, cams, agent in ((texts[0], {"cam0"}, "box-a"), (texts[1], {"cam0", "cam1"}, "box-b")):
        families = {f.name: f for f in text_string_to_metric_families(text)}
        got = samples(text)
        assert {s.labels["camera"] for s in got["siaga_agent_frames_processed_total"]} == cams
        assert [s.labels["agent"] for s in got["siaga_agent_info"]] == [agent]
        assert families["siaga_agent_inference_seconds"].type == "histogram"
        assert families["siaga_agent_frame_to_count_seconds"].type == "histogram"
        assert families["siaga_agent_frames_processed"].type == "counter"
        assert families["siaga_agent_outbox_depth"].type == "gauge"
        # Seconds, not milliseconds: CPU inference of one frame takes well under 10 s.
        count = value(text, "siaga_agent_inference_seconds_count", camera="cam0") or 0
        total = value(text, "siaga_agent_inference_seconds_sum", camera="cam0") or 0
        assert count >= 3 and 0 < total / count < 10
        buckets = [s for s in got["siaga_agent_inference_seconds_bucket"]
                   if s.labels["camera"] == "cam0"]  # fmt: skip
        assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == count
        processed = value(text, "siaga_agent_frames_processed_total", camera="cam0") or 0
        skipped = value(text, "siaga_agent_frames_skipped_total", camera="cam0")
        infers = value(text, "siaga_agent_frames_inferred_total", camera="cam0")
        assert skipped is not None and infers is not None and skipped + infers <= processed
        assert value(text, "siaga_agent_camera_up", camera="cam0") == 1
        assert value(text, "siaga_agent_broker_connected") == 1
        for name in ("process_resident_memory_bytes", "process_cpu_seconds_total",
                     "python_info", "python_gc_collections_total"):  # fmt: skip
            assert name in got, name
        assert "siaga_agent_inference_ms" not in text  # the old, non-base-unit average
        # CPU per stage (agent/stagecpu.py): every stage of every camera, each measured.
        stage = {(s.labels["camera"], s.labels["stage"]): s.value
                 for s in got["siaga_agent_stage_cpu_seconds_total"]}  # fmt: skip
        assert {st for c, st in stage if c == "cam0"} == {"decode", "convert", "preprocess",
                                                          "inference", "track"}  # fmt: skip
        assert stage["cam0", "decode"] > 0 and stage["cam0", "inference"] > 0
        assert families["siaga_agent_stage_cpu_seconds"].type == "counter"
        assert value(text, "siaga_agent_camera_overloaded", camera="cam0") == 0
        assert value(text, "siaga_agent_frames_dropped_total", camera="cam0") is not None


def test_metrics_server_listens_where_configured():
    srv = MetricsServer("127.0.0.1", 0, registry=__import__("prometheus_client").REGISTRY)
    srv.start()
    try:
        assert srv.port > 0
        assert "python_info" in scrape(f"http://127.0.0.1:{srv.port}/metrics")
    finally:
        srv.stop()
