"""central/ops_metrics.py: sequence gaps per agent (SQLite and PostgreSQL, cached between
scrapes), the daily report's cut-off, and certificate expiry read from the files and from a real
TLS connection to Mosquitto."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from prometheus_client import CollectorRegistry, generate_latest

from central.config import MqttSection, ReportSection
from central.ops_metrics import CertificateCollector, GapsCollector, ReportCollector
from central.store.writes import Store
from tests.agent.test_publisher import make_ca_and_server
from tests.central.ingest.test_ingest import central_config
from tests.central.summary_fixtures import A, count_row, insert_rows, migrated_engine
from tests.prom import value

NOW = datetime.now(UTC).replace(microsecond=0)


def text(*collectors: object) -> str:
    registry = CollectorRegistry(auto_describe=False)
    for c in collectors:
        registry.register(c)  # type: ignore[arg-type]
    return generate_latest(registry).decode()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_gaps_per_agent_cached_for_ttl(request: pytest.FixtureRequest, tmp_path: Path,
                                       backend: str) -> None:  # fmt: skip
    with migrated_engine(request, backend, tmp_path) as engine:
        # box1 misses seqs 3-4 and 7; box2 misses nothing.
        rows = [count_row("box1", "cam1", A, NOW - timedelta(minutes=s), s, 5, 1, 1)
                for s in (1, 2, 5, 6, 8)]  # fmt: skip
        rows += [count_row("box2", "cam1", A, NOW - timedelta(minutes=s), s, 5, 1, 1)
                 for s in (1, 2)]  # fmt: skip
        insert_rows(engine, rows)
        store = Store(engine)
        for agent in ("box1", "box2", "box3"):  # box3: known, nothing stored yet
            store.set_availability(agent, "online", NOW)
        agents = lambda: [a.agent_id for a in store.agents()]  # noqa: E731
        cached = GapsCollector(store.gaps, agents, ttl_s=3600)
        fresh = GapsCollector(store.gaps, agents, ttl_s=0)
        t = text(cached)
        assert value(t, "siaga_central_seq_gaps", agent="box1") == 2
        assert value(t, "siaga_central_seq_missing_messages", agent="box1") == 3
        assert value(t, "siaga_central_seq_gaps", agent="box2") == 0
        assert value(t, "siaga_central_seq_missing_messages", agent="box3") == 0
        # The late windows arrive: a fresh scrape sees the gaps filled, the cached one not yet.
        insert_rows(engine, [count_row("box1", "cam1", A, NOW - timedelta(minutes=s), s, 5, 1,
                                       1) for s in (3, 4, 7)])  # fmt: skip
        assert value(text(fresh), "siaga_central_seq_missing_messages", agent="box1") == 0
        assert value(text(cached), "siaga_central_seq_missing_messages", agent="box1") == 3


def test_report_cutoff_and_write_time(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    cfg = ReportSection(output_dir=out, hour=12, minute=0, timezone="Asia/Jakarta")
    t = text(ReportCollector(cfg, lambda: 0))
    assert value(t, "siaga_central_report_last_cutoff_timestamp_seconds") == 0
    out.mkdir()
    for day in ("2026-12-03", "2026-12-04"):
        (out / f"siaga-report-{day}.json").write_text("{}")
    (out / "siaga-report-2026-12-05.csv").write_text("")  # no JSON: not complete
    t = text(ReportCollector(cfg, lambda: 2))
    cutoff = datetime(2026, 12, 4, 5, 0, tzinfo=UTC).timestamp()  # 12:00 WIB
    assert value(t, "siaga_central_report_last_cutoff_timestamp_seconds") == cutoff
    written = (out / "siaga-report-2026-12-04.json").stat().st_mtime
    assert value(t, "siaga_central_report_last_written_timestamp_seconds") == written
    assert value(t, "siaga_central_reports_written_total") == 2


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_certificate_expiry_from_files_and_the_broker(mosquitto_factory, collector_factory,
                                                      tmp_path: Path) -> None:  # fmt: skip
    ca, crt, key = make_ca_and_server(tmp_path, "city")
    broker = mosquitto_factory(extra_config=[f"cafile {ca}", f"certfile {crt}", f"keyfile {key}"])
    cfg = central_config(broker, f"sqlite:///{tmp_path}/c.sqlite3")
    mqtt = cfg.mqtt.model_copy(update={"tls": True, "ca_file": ca})
    cfg = cfg.model_copy(update={"mqtt": mqtt})
    collector = collector_factory(cfg, Store.open(cfg.storage.url))
    assert collector.wait_ready(10)
    t = text(CertificateCollector(mqtt, lambda: collector.broker_cert_expiry))
    expiry = {p: x509.load_pem_x509_certificate(p.read_bytes()).not_valid_after_utc.timestamp()
              for p in (ca, crt)}  # fmt: skip
    name = "siaga_central_certificate_expiry_timestamp_seconds"
    assert value(t, name, certificate="mqtt_ca") == expiry[ca]
    assert value(t, name, certificate="mqtt_broker") == expiry[crt]
    assert value(t, name, certificate="mqtt_client") is None  # none configured
    assert 0 < expiry[crt] - NOW.timestamp() <= 3 * 86_400  # openssl -days 2


def test_no_tls_no_certificates() -> None:
    t = text(CertificateCollector(MqttSection(), lambda: None))
    assert "siaga_central_certificate_expiry_timestamp_seconds{" not in t
