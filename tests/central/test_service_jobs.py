"""Two central instances on one database: the once-only jobs run on one, and move on a stop."""

from __future__ import annotations

from pathlib import Path

import httpx

from central.config import CentralConfig, CentralSection
from central.service import CentralService
from tests.central.api_fixtures import reader_headers
from tests.central.test_service import make_config
from tests.mqtt_broker import MosquittoBroker, wait_until
from tests.prom import value


def instance(
    broker: MosquittoBroker, tmp_path: Path, name: str, **central: object
) -> CentralService:
    base = make_config(broker, tmp_path)  # the same database file for both
    cfg = CentralConfig(**{**base.model_dump(), "central": CentralSection(
        instance=name, jobs_lease_s=3, **central)})  # type: ignore[arg-type]  # fmt: skip
    return CentralService(cfg, notify=lambda *_: True)


def jobs_state(svc: CentralService) -> str:
    assert svc.api_url is not None
    auth = reader_headers(svc.engine)  # the public /healthz says only ok or degraded
    return str(httpx.get(f"{svc.api_url}/healthz", headers=auth, timeout=5).json()["jobs"])


def test_jobs_run_on_one_instance_and_move_when_it_stops(mosquitto, tmp_path: Path) -> None:
    first, second = (
        instance(mosquitto, tmp_path, "central-a"),
        instance(mosquitto, tmp_path, "central-b"),
    )
    first.start()
    second.start()
    try:
        assert first.runs_jobs() and not second.runs_jobs()
        assert (jobs_state(first), jobs_state(second)) == ("running here", "standby")
        metrics = httpx.get(f"{second.api_url}/metrics", headers=reader_headers(second.engine),
                            timeout=5).text  # fmt: skip
        assert value(metrics, "siaga_central_jobs_lease_held") == 0
        assert second.rules_pass() == []  # a standby never evaluates rules nor sends alerts
        assert second.lease is not None and second.lease.current_holder() is not None
        assert second.lease.current_holder().startswith("central-a@")  # type: ignore[union-attr]
        first.shutdown()  # releases the lease: the standby takes over at its next try (1 s)
        assert wait_until(second.runs_jobs, timeout_s=5)
        assert jobs_state(second) == "running here"
    finally:
        first.shutdown()
        second.shutdown()


def test_an_instance_can_be_kept_off_the_jobs(mosquitto, tmp_path: Path) -> None:
    svc = instance(mosquitto, tmp_path, "ingest-only", run_jobs=False)
    svc.start()
    try:
        assert svc.lease is None and not svc.runs_jobs() and jobs_state(svc) == "standby"
    finally:
        svc.shutdown()
