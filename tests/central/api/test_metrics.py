"""GET /metrics of the API: prometheus_client's text, parsed back by its parser, on SQLite and
PostgreSQL (the populated context of test_api.py), and the per-camera silence figures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from central.api.app import ApiContext, create_app
from central.api.metrics import camera_families, render_metrics
from central.areas import sync_areas, sync_cameras
from central.config import SummariesSection
from central.summaries import Summarizer, SummaryBoard
from tests.central.api.test_api import NOW, populated
from tests.central.api_fixtures import reader_headers
from tests.central.summary_fixtures import (
    A,
    count_row,
    insert_rows,
    migrated_engine,
    registry,
    small_areas,
)
from tests.prom import samples, value


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ctx(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ApiContext]:  # fmt: skip
    with migrated_engine(request, request.param, tmp_path_factory.mktemp("m")) as engine:
        yield populated(engine)


def test_metrics_parse_and_carry_the_figures(ctx: ApiContext):
    with TestClient(create_app(ctx), headers=reader_headers(ctx.engine)) as client:
        client.get("/areas")
        r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    types = {f.name: f.type for f in text_string_to_metric_families(r.text)}
    assert types["siaga_central_ingest_stored"] == "counter"
    assert types["siaga_central_ingest_queue_depth"] == "gauge"
    text = r.text
    assert value(text, "siaga_central_ingest_stored_total") == 12
    assert value(text, "siaga_central_ingest_queue_depth") == 3
    assert value(text, "siaga_central_ingest_connected") == 1
    assert value(text, "siaga_central_ingest_rejected_total", reason="not_json") == 2
    assert value(text, "siaga_central_summary_passes_total") == 1
    # One name for every MQTT connection, the connection as a label.
    assert value(text, "siaga_central_mqtt_connected", connection="summaries") == 1
    assert value(text, "siaga_central_mqtt_connected", connection="ingest") == 1
    assert "siaga_central_mqtt_summaries_connected" not in text
    assert value(text, "siaga_central_http_requests_total", route="/areas", method="GET",
                 status="200") == 1  # fmt: skip
    assert "process_cpu_seconds_total" in samples(text) and "python_info" in samples(text)
    # The old percentile gauges are gone: latencies are histograms (central/ingest/histograms.py).
    assert "lag_ms" not in text


def test_render_metrics_needs_no_service(ctx: ApiContext):
    text = render_metrics(ApiContext(engine=ctx.engine, board=SummaryBoard(), cameras=ctx.cameras))
    assert value(text, "siaga_central_summary_passes_total") == 0
    assert value(text, "siaga_central_cameras_silent") == 0  # no pass: nothing known yet


@pytest.mark.parametrize(("after_s", "silent"), [(60, 0), (301, 1)])
def test_a_camera_is_silent_beyond_stale_after(tmp_path: Path, after_s: int, silent: int):
    """box1/cam1 (registered, expected) sent one window ending 20 min before NOW; with
    stale_after_s = 300 it is silent from 300 s after that end. The scrape is `after_s` after."""
    areas = small_areas()
    cams = registry(areas)
    end = NOW - timedelta(minutes=20)
    with migrated_engine(None, "sqlite", tmp_path) as engine:
        sync_areas(engine, areas)
        sync_cameras(engine, cams)
        insert_rows(engine, [count_row("box1", "cam1", A, end, 1, 10, 5, 3)])
        board = SummaryBoard()
        summarizer = Summarizer(engine, SummariesSection(stale_after_s=300), areas, cams)
        board.update(summarizer.compute(NOW), computed_at=NOW, pass_s=0.01)
        ctx = ApiContext(engine=engine, board=board, cameras=cams)
        fams = {f.name: f for f in camera_families(ctx, end.timestamp() + after_s)}
    quiet = {(s.labels["agent"], s.labels["camera"]): s.value
             for s in fams["siaga_central_camera_silent"].samples}  # fmt: skip
    assert quiet[("box1", "cam1")] == silent
    assert set(quiet) == {k for k, e in cams.cameras.items() if e.expected}
    assert all(v == 1 for k, v in quiet.items() if k != ("box1", "cam1"))  # never sent
    assert fams["siaga_central_cameras_silent"].samples[0].value == len(quiet) - 1 + silent
    last = fams["siaga_central_camera_last_window_end_timestamp_seconds"].samples
    assert [(s.labels["agent"], s.labels["camera"], s.value) for s in last] == [
        ("box1", "cam1", end.timestamp())
    ]
