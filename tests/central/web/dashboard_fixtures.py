"""A real central on the City of Semarang's 177 kelurahan with a real Mosquitto (WebSocket
listener on or off) and a real headless Chromium, for the dashboard's tests and its benchmark.

The area files come from $SIAGA_SHARED (../shared); a test skips with the reason when they, the
browser or the broker are absent. Counts arrive as an agent sends them (MQTT, QoS 1); the civic
data are the synthetic sample files moved to today plus a week of rising cases in the cameras'
kelurahan; summary passes run when the test calls `pass_now` (interval 1 h), so that what the page
shows is what the test decided.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.config import (
    ApiSection,
    AreasSection,
    CentralConfig,
    CentralSection,
    DashboardSection,
    MqttSection,
    OpendataSection,
    ReportSection,
    RulesSection,
    StorageSection,
    SummariesSection,
    default_shared,
)
from siaga.wire import counts_topic
from tests.central.summary_fixtures import counts_message
from tests.mqtt_broker import MosquittoBroker, wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 20.0
KEL_CAM = "33.74.03.1006"  # Bugangan (Semarang Timur): two cameras, enough people
KEL_FEW = "33.74.01.1001"  # Miroto (Semarang Tengah): one camera, too few people
KEL_SILENT = "33.74.02.1001"  # an expected camera that never reports
MIN_PEOPLE = 5
WIB = ZoneInfo("Asia/Jakarta")
CAMERAS = (("box-a", "cam1", KEL_CAM), ("box-a", "cam2", KEL_CAM), ("box-b", "cam1", KEL_FEW),
           ("box-c", "cam1", KEL_SILENT))  # fmt: skip


def shared_geo() -> Path:
    """The area files' folder, or skip."""
    geo = default_shared() / "geo"
    for name in ("semarang_wilayah.csv", "semarang_kelurahan.geojson"):
        if not (geo / name).is_file():
            pytest.skip(f"{geo / name} not found (set SIAGA_SHARED to the shared data folder)")
    return geo


def write_registry(path: Path, cameras: tuple[tuple[str, str, str], ...] = CAMERAS) -> Path:
    """A camera registry file (TOML) for (agent, camera, kelurahan) triples."""
    path.write_text("".join(
        f'[[cameras]]\nagent_id = "{a}"\ncamera_id = "{c}"\nkelurahan_code = "{k}"\n'
        f'name = "{a} {c}"\n\n' for a, c, k in cameras))  # fmt: skip
    return path


def central_config(broker: MosquittoBroker, work: Path, *, ws_url: str | None,
                   cameras: tuple[tuple[str, str, str], ...] = CAMERAS,
                   interval_s: float = 3600.0) -> CentralConfig:  # fmt: skip
    """Central on SQLite in work, the Semarang areas, the dashboard pointed at ws_url."""
    geo = shared_geo()
    return CentralConfig(
        central=CentralSection(instance="dash-test", run_jobs=False),
        mqtt=MqttSection(host=broker.host, port=broker.port),
        storage=StorageSection(url=f"sqlite:///{work / 'central.sqlite3'}", batch_max_wait_ms=20),
        areas=AreasSection(wilayah_csv=geo / "semarang_wilayah.csv",
                           kelurahan_geojson=geo / "semarang_kelurahan.geojson",
                           cameras_file=write_registry(work / "cameras.toml", cameras)),
        summaries=SummariesSection(interval_s=interval_s, min_people_for_ratio=MIN_PEOPLE),
        api=ApiSection(port=0),
        rules=RulesSection(enabled=False),
        report=ReportSection(output_dir=work / "reports"),
        opendata=OpendataSection(enabled=False, output_dir=work / "opendata"),
        dashboard=DashboardSection(mqtt_ws_url=ws_url, fallback_after_s=1.0),
    )  # fmt: skip


def load_civic(svc: Any) -> None:
    """The synthetic civic samples (moved to today) and a week of cases in KEL_CAM."""
    from central.civic.common import AreaCodes
    from central.civic.samples import load_local, load_samples, local_rows

    now = datetime.now(WIB)
    codes = AreaCodes(kota=svc.areas.kota_code, kelurahan=frozenset(svc.areas.kelurahan))
    load_samples(svc.engine, codes, now=now)
    lng, lat = svc.areas.kelurahan[KEL_CAM].centroid
    load_local(svc.engine, codes, local_rows(KEL_CAM, lat=lat, lng=lng, today=now.date(), now=now),
               now=now)  # fmt: skip
    # Two more rates for the cases layer: 3 new cases in 10,000 people (30: 20–50) and none.
    for code, new in ((KEL_FEW, 3), (KEL_SILENT, 0)):
        days = [now.date() - timedelta(days=7), now.date()]
        rows = {"population": [{"kelurahan_code": code, "year": now.year, "population": 10_000}],
                "cases": [{"kelurahan_code": code, "date": d.isoformat(), "residency": "resident",
                           "confirmed": 20 + i * new, "active": 5 + i * new, "recovered": 15,
                           "deaths": 0} for i, d in enumerate(days)]}  # fmt: skip
        load_local(svc.engine, codes, rows, now=now)


class Agent:
    """Publishes count windows as an agent would (MQTT 5, QoS 1, waiting for PUBACKs)."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.broker = broker
        self.seq: dict[str, int] = {}

    def send(self, agent: str, camera: str, kel: str, people: int, masked: int, unmasked: int,
             *, end: datetime | None = None) -> None:  # fmt: skip
        seq = self.seq[agent] = self.seq.get(agent, 0) + 1
        end = (end or datetime.now(UTC)).replace(microsecond=0)
        msg = counts_message(agent, camera, kel, end, seq, people, masked, unmasked)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{agent}",
                        protocol=mqtt.MQTTv5)  # fmt: skip
        c.connect(self.broker.host, self.broker.port)
        c.loop_start()
        try:
            c.publish(counts_topic(agent, camera), msg.to_payload(), qos=1).wait_for_publish(5)
        finally:
            c.disconnect()
            c.loop_stop()


@dataclass
class City:
    """A running central with the dashboard, its broker and what the test needs to drive it."""

    svc: Any
    broker: MosquittoBroker
    agent: Agent
    token: str

    @property
    def url(self) -> str:
        return str(self.svc.api_url)

    def pass_now(self, stored: int | None = None) -> None:
        """Wait until `stored` windows are in the database, then run a summary pass."""
        if stored is not None:
            assert wait_until(lambda: self.svc.store.count_rows() >= stored, WAIT_S)
        self.svc.summary_pass(wait_s=5)


@contextlib.contextmanager
def running_city(broker: MosquittoBroker, work: Path, *, ws: bool = True,
                 send_counts: bool = True) -> Iterator[City]:  # fmt: skip
    """Central with the civic data and (send_counts) the cameras' first counts summarised."""
    from central.civic.institutions import add_institution
    from central.service import CentralService

    work.mkdir(parents=True, exist_ok=True)
    ws_url = broker.ws_url if ws else f"ws://127.0.0.1:{free_port()}"  # ws=False: nobody there
    svc = CentralService(central_config(broker, work, ws_url=ws_url), notify=lambda *_: False)
    load_civic(svc)
    svc.start()
    try:
        svc.collector.wait_ready(5)
        token = add_institution(svc.engine, "ops", "Operations room", modules=(), reader=True)
        city = City(svc, broker, Agent(broker), token)
        if send_counts:
            city.agent.send("box-a", "cam1", KEL_CAM, 30, 27, 3)
            city.agent.send("box-a", "cam2", KEL_CAM, 20, 18, 2)
            city.agent.send("box-b", "cam1", KEL_FEW, 3, 2, 1)
            city.pass_now(stored=3)
        yield city
    finally:
        svc.stop()


def free_port() -> int:
    from tests.mqtt_broker import free_port as fp

    return fp()


# ---- the browser ----


def chromium(tmp: Path, *, width: int = 1366, height: int = 768) -> Any:
    """Headless Chromium with performance (network) and browser (console) logs; or skip."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.is_file():
            pytest.skip(f"{binary} not found: apt-get install -y chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={tmp / 'chromium'}",
                f"--window-size={width},{height}", "--enable-precise-memory-info",
                "--js-flags=--expose-gc"):  # fmt: skip
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    opts.timeouts = {"pageLoad": int(WAIT_S * 1000), "script": int(WAIT_S * 1000)}
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    if width < 500:  # under headless Chromium's smallest window: a phone's viewport, emulated
        drv.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True},
        )
    return drv


class Served(Protocol):
    """Where a dashboard is served and a read token for its operations view."""

    @property
    def url(self) -> str: ...
    @property
    def token(self) -> str: ...


def open_dashboard(
    drv: Any, city: Served, view: str = "public", token: str | None = None, *, ready: bool = True
) -> None:
    """Load the view (the operations one signed in with the read token) and wait until ready."""
    from selenium.webdriver.common.by import By

    drv.get(f"{city.url}{'/dashboard/ops' if view == 'ops' else '/dashboard'}")
    if view == "ops":  # the operator types the token into the page's form, as in the room
        wait_for(drv, "return !document.getElementById('token-form').hidden", what="token form")
        drv.find_element(By.ID, "token").send_keys(token or city.token)
        drv.find_element(By.CSS_SELECTOR, "#token-form button").click()
    if ready:
        wait_for(drv, "return document.body.dataset.ready === 'true'", what="the page to start")


def wait_for(drv: Any, script: str, *args: Any, timeout_s: float = WAIT_S, what: str = "") -> Any:
    """Poll a script in the page until it returns something truthy; its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = drv.execute_script(script, *args)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or script}")
        time.sleep(0.05)


def kelurahan(drv: Any, code: str) -> dict[str, Any]:
    """What the page shows for one kelurahan: map fill, status, label and list text."""
    return dict(drv.execute_script(KEL_JS, code))


KEL_JS = """
const p = document.querySelector(`path.kel[data-code="${arguments[0]}"]`);
const row = document.getElementById(`row-${arguments[0]}`);
return p && {fill: p.getAttribute('fill'), status: p.dataset.status, label: p.dataset.label,
             title: p.querySelector('title').textContent,
             row: row ? row.lastChild.textContent : null};
"""


def console_errors(drv: Any) -> list[dict[str, Any]]:
    """SEVERE entries of the browser console since the last call."""
    return [e for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def requested_urls(drv: Any) -> list[str]:
    """Every URL the page asked for (HTTP and WebSocket) since the last call, from the
    performance log's Network events."""
    urls = []
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
        elif msg["method"] == "Network.webSocketCreated":
            urls.append(msg["params"]["url"])
    return urls


def summary_of(city: City, level: str, code: str) -> Callable[[], dict[str, Any] | None]:
    """A reader of the board's latest payload of one area."""

    def read() -> dict[str, Any] | None:
        s = city.svc.board.get(level, code)
        return None if s is None else dict(s.payload)

    return read


def recent_end(minutes_ago: float = 1.0) -> datetime:
    """A window end inside the recent (20-minute) period."""
    return datetime.now(UTC) - timedelta(minutes=minutes_ago)
