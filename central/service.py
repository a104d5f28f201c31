"""The central daemon: ingest, summaries and the HTTP API in one process, supervised by systemd.

Start-up migrates the database and loads the area and camera registries, so a bad file stops
the service before it takes any traffic. SIGTERM stops ingest after its last batch is written,
publishes a final round of summaries and exits within SHUTDOWN_BUDGET_S.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion

from central.api.app import ApiContext, create_app
from central.areas import load_areas, load_cameras, sync_areas, sync_cameras
from central.config import CentralConfig, MqttSection
from central.ingest.collector import Collector
from central.ingest.confirm import Confirmer
from central.ops_metrics import CertificateCollector, GapsCollector, ReportCollector
from central.report.run import ReportScheduler
from central.rules import AlertEvent, RulesEngine, load_rules, mqtt_sender
from central.store.engine import make_engine
from central.store.lease import JOBS, Lease, holder_id
from central.store.migrations import migrate
from central.store.writes import Store
from central.summaries import Summarizer, Summary, SummaryBoard
from siaga.mqtt import configure_client
from siaga.sdnotify import Notifier

log = logging.getLogger(__name__)
SHUTDOWN_BUDGET_S = 8.0  # the unit's TimeoutStopSec is 15 s
INGEST_STOP_S = 4.0
ALERT_FLUSH_S = 2.0


def sd_notify(*fields: str) -> bool:
    """Send `KEY=value` lines to systemd; False when not run by systemd."""
    return Notifier().send(*fields)


class SummaryPublisher:
    """Publishes summaries retained at QoS 1 on its own connection; skips a pass while down."""

    def __init__(self, cfg: MqttSection, *, client_id: str) -> None:
        self.cfg = cfg
        self.connected = self._stopping = False
        self._topics: set[str] = set()
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                        protocol=mqtt.MQTTv5)  # fmt: skip
        configure_client(c, cfg, username=cfg.username)
        # paho annotates ints but computes with floats.
        c.reconnect_delay_set(min_delay=cfg.reconnect_min_s, max_delay=cfg.reconnect_max_s)  # type: ignore[arg-type]
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        self.client = c

    def _on_connect(self, _c: Any, _u: Any, _f: Any, code: Any, _p: Any) -> None:
        self.connected = not code.is_failure
        if code.is_failure:
            log.warning("summary publisher: broker refused the connection: %s", code)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, code: Any, _p: Any) -> None:
        if self.connected and not self._stopping:
            log.warning("summary publisher: disconnected from the broker (%s)", code)
        self.connected = False

    def start(self) -> None:
        """Connect in the background (paho reconnects by itself)."""
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait (bounded) for the connection."""
        deadline = time.monotonic() + timeout_s
        while not self.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.connected

    def publish(self, summaries: list[Summary], *, wait_s: float = 0.0) -> int:
        """Publish every summary; clear retained topics no longer summarised. Returns how many."""
        if not self.connected:
            return 0
        prefix = self.cfg.topic_prefix
        infos = [self.client.publish(s.topic(prefix), _dump(s), qos=1, retain=True)
                 for s in summaries]  # fmt: skip
        topics = {s.topic(prefix) for s in summaries}
        # An empty retained message deletes the broker's copy (a camera gone for over 7 days).
        infos += [self.client.publish(t, b"", qos=1, retain=True) for t in self._topics - topics]
        self._topics = topics
        deadline = time.monotonic() + wait_s
        for info in infos:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            info.wait_for_publish(timeout=left)
        return len(summaries)

    def stop(self) -> None:
        """Disconnect and stop paho's thread."""
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()


def _dump(s: Summary) -> bytes:
    return json.dumps(s.payload, separators=(",", ":")).encode()


class ApiServer:
    """Uvicorn in a thread on a socket bound up front (so port 0 and bind errors show at once)."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise OSError(
                exc.errno, f"api: cannot listen on {host}:{port}: {exc.strerror}"
            ) from None
        self.host, self.port = host, int(self.sock.getsockname()[1])
        # log_config=None: uvicorn's lines go through the root handler (siaga/logs.py), with
        # a journald priority under systemd, rather than its own handler and format.
        cfg = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                             log_config=None)  # fmt: skip
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="api", daemon=True)  # fmt: skip

    @property
    def url(self) -> str:
        """Base URL of the API."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Serve; returns once uvicorn is accepting."""
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started and self.thread.is_alive():
            if time.monotonic() > deadline:
                raise RuntimeError("the API server did not start in time")
            time.sleep(0.02)

    def stop(self, timeout_s: float = 2.0) -> None:
        """Finish open requests (bounded) and stop."""
        self.server.should_exit = True
        if self.thread.ident is not None:
            self.thread.join(timeout_s)
        self.sock.close()


class CentralService:
    """Owns the store, the collector, the summary loop, the publisher and the API."""

    def __init__(self, cfg: CentralConfig, *, notify: Callable[..., bool] = sd_notify) -> None:
        self.cfg = cfg
        self.notify = notify
        self.engine = make_engine(cfg.storage.url)
        migrate(self.engine)
        self.areas = load_areas(cfg.areas)
        self.cameras = load_cameras(cfg.areas.cameras_file, self.areas)
        sync_areas(self.engine, self.areas)
        sync_cameras(self.engine, self.cameras)
        self.store = Store(self.engine)
        # The once-only jobs (rules, reports, open data) run where the jobs lease is held.
        c = cfg.central
        self.lease: Lease | None = None
        if c.run_jobs:
            self.lease = Lease(self.engine, JOBS, holder_id(c.instance), ttl_s=c.jobs_lease_s)
        self.publisher = SummaryPublisher(cfg.mqtt, client_id=f"{cfg.central.instance}-summaries")
        # Confirmations to the agents go out on the publisher's connection (paho queues them
        # while it is down; an agent that misses one sends again and is told again).
        client = self.publisher.client
        self.confirmer = Confirmer(
            self.engine, lambda topic, payload: client.publish(topic, payload, qos=1, retain=True),
            prefix=cfg.mqtt.topic_prefix)  # fmt: skip
        self.collector = Collector(cfg, self.store, camera_kelurahan=self.cameras.camera_kelurahan,
                                   confirmer=self.confirmer)  # fmt: skip
        # A bad rules file stops start-up like a bad config (the summaries use its PPKM bounds).
        rules = load_rules(cfg.rules.rules_file) if cfg.rules.enabled else None
        self.summarizer = Summarizer(self.engine, cfg.summaries, self.areas, self.cameras,
                                     rules=rules)  # fmt: skip
        self.board = SummaryBoard()
        self.api_ctx = ApiContext(
            engine=self.engine, board=self.board, cameras=self.cameras,
            summary_interval_s=cfg.summaries.interval_s, gaps=self.store.gaps,
            ingest_metrics=self.collector.metrics, mqtt_connected=self._mqtt_connected,
            report_dir=cfg.report.output_dir, opendata_dir=cfg.opendata.output_dir,
            revoked=self.collector.revoked_agents, runs_jobs=self.runs_jobs, api=cfg.api,
            collectors=self._metrics_collectors(),
            dashboard=cfg.dashboard.model_copy(
                update={"topic_prefix": cfg.dashboard.topic_prefix or cfg.mqtt.topic_prefix}),
        )  # fmt: skip
        self.api: ApiServer | None = None
        if cfg.api.enabled:
            self.api = ApiServer(create_app(self.api_ctx), cfg.api.host, cfg.api.port)
        self._stop = threading.Event()
        self._started = False
        self._loop_mono = time.monotonic()
        self._summary_thread = threading.Thread(target=self._summary_loop, name="summaries",
                                                daemon=True)  # fmt: skip
        self.reports = ReportScheduler(
            self.engine, cfg, may_run=self.runs_jobs
        )  # catch-up at start, then daily
        # Decision rules (central/rules).
        self.rules: RulesEngine | None = None
        if rules is not None:
            # Store-and-forward: alerts raised while the broker is down are sent once it is back.
            send = mqtt_sender(self.publisher.client, cfg.mqtt.topic_prefix,
                               lambda: self.publisher.connected)  # fmt: skip
            unsuitable = cfg.summaries.include_unsuitable_cameras
            self.rules = RulesEngine(self.engine, rules, send, include_unsuitable=unsuitable)
        self._rules_thread = threading.Thread(target=self._rules_loop, name="rules", daemon=True)

    def _metrics_collectors(self) -> list[Any]:
        """What /metrics adds to the API's figures (central/ops_metrics.py)."""
        store = self.store
        return [
            self.collector.histograms,
            GapsCollector(store.gaps, lambda: [a.agent_id for a in store.agents()]),
            ReportCollector(self.cfg.report, lambda: len(self.reports.written)),
            CertificateCollector(self.cfg.mqtt, lambda: self.collector.broker_cert_expiry),
        ]

    def runs_jobs(self) -> bool:
        """This instance holds the jobs lease now."""
        return self.lease is not None and self.lease.held()

    def _mqtt_connected(self) -> dict[str, bool]:
        return {"ingest": self.collector.connected, "summaries": self.publisher.connected}

    def summary_pass(self, *, wait_s: float = 0.0) -> list[Summary]:
        """Compute every summary, put it on the board and publish it."""
        now = datetime.now(UTC).replace(microsecond=0)  # whole seconds read better
        try:
            summaries = self.summarizer.compute(now)
        except Exception:
            self.board.failures += 1
            log.exception("summary pass failed")
            return []
        self.board.update(summaries, computed_at=now, pass_s=self.summarizer.last_pass_s)
        try:
            sent = self.publisher.publish(summaries, wait_s=wait_s)
        except (OSError, ValueError, RuntimeError):  # the next pass publishes everything again
            log.exception("publishing summaries failed")
            sent = 0
        self.board.published += sent
        log.info("summaries: %d computed in %.2f s, %d published%s", len(summaries),
                 self.summarizer.last_pass_s, sent,
                 "" if sent or not summaries else " (broker not connected)")  # fmt: skip
        return summaries

    def _summary_loop(self) -> None:
        interval = self.cfg.summaries.interval_s
        next_at = time.monotonic()
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            self._loop_mono = time.monotonic()
            self.summary_pass()
            self._loop_mono = time.monotonic()
            next_at += interval
            next_at = max(next_at, time.monotonic())  # a slow pass delays, never bunches up

    def rules_pass(self) -> list[AlertEvent]:
        """Evaluate the decision rules once; store and publish what changed."""
        if self.rules is None or not self.runs_jobs():
            return []
        try:
            return self.rules.run()
        except Exception:
            log.exception("rules pass failed")
            return []

    def _rules_loop(self) -> None:
        # Rules every interval_s; in between, pending alerts are flushed every ALERT_FLUSH_S
        # (a few rows' query) so that they go out soon after the broker is back.
        next_at = time.monotonic() + self.cfg.rules.interval_s
        while not self._stop.wait(min(ALERT_FLUSH_S, max(0.0, next_at - time.monotonic()))):
            if time.monotonic() >= next_at:
                self.rules_pass()
                next_at = time.monotonic() + self.cfg.rules.interval_s
            elif self.rules is not None and self.publisher.connected and self.runs_jobs():
                try:
                    self.rules.flush()
                except Exception:
                    log.exception("publishing pending alerts failed")

    def healthy(self) -> bool:
        """The summary loop is turning (a pass may take long on a big city: allow 2 min)."""
        limit = self.cfg.summaries.interval_s + 120.0
        return self._summary_thread.is_alive() and time.monotonic() - self._loop_mono < limit

    def start(self) -> None:
        """Start ingest, publisher, the summary loop and the API (once)."""
        if self._started:
            return
        self._started = True
        self.collector.start()
        self.publisher.start()
        # The first pass waits briefly for the broker so that it is published, not skipped.
        self.publisher.wait_connected(2.0)
        self._summary_thread.start()
        if self.lease is not None:
            self.lease.start()  # takes it now when free; a standby keeps trying
        self.reports.start()
        if self.rules is not None:
            self._rules_thread.start()
        if self.api is not None:
            self.api.start()
            log.info("API on %s (docs: %s/docs)", self.api.url, self.api.url)
        cams = len(self.cameras.cameras)
        self.notify("READY=1", f"STATUS={cams} cameras registered, API {self.api_url or 'off'}")

    @property
    def api_url(self) -> str | None:
        """Base URL of the running API, or None when it is disabled."""
        return self.api.url if self.api is not None else None

    def stop(self) -> None:
        """Request a clean shutdown (signal handlers call this)."""
        self._stop.set()

    def run(self) -> int:
        """Start and run until stopped; pings the systemd watchdog while healthy."""
        self.start()
        try:
            while True:  # the first ping right after READY, then every second
                if self.healthy():
                    self.notify("WATCHDOG=1")
                else:
                    log.error("the summary loop is stuck; withholding the watchdog ping")
                if self._stop.wait(1.0):
                    break
        finally:
            self.shutdown()
        return 0

    def shutdown(self) -> None:
        """Stop ingest (its last batch is written), publish final summaries, stop the API."""
        deadline = time.monotonic() + SHUTDOWN_BUDGET_S
        self.notify("STOPPING=1")
        self._stop.set()
        self.collector.stop(timeout_s=INGEST_STOP_S)
        self.reports.stop(timeout_s=0.5)
        if self.lease is not None:
            self.lease.stop()  # released: a standby takes the jobs over at once
        if self._summary_thread.is_alive():
            self._summary_thread.join(timeout=max(0.1, deadline - time.monotonic() - 3.0))
        left = deadline - time.monotonic()
        if self._summary_thread.is_alive() or self.summarizer.last_pass_s > left - 2.0:
            # A pass is still running (it publishes when done) or would not fit the budget.
            log.warning("no final summaries: a pass takes %.1f s", self.summarizer.last_pass_s)
        else:
            self.summary_pass(wait_s=max(0.1, min(2.0, left - self.summarizer.last_pass_s - 1.0)))
        self.publisher.stop()
        if self.api is not None:
            self.api.stop(timeout_s=max(0.1, deadline - time.monotonic()))
        self.engine.dispose()
        log.info("central %s stopped", self.cfg.central.instance)
