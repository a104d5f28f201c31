"""Central configuration: a TOML file plus SIAGA_CENTRAL__SECTION__KEY environment overrides.

Same conventions as the agent: one pydantic model per section, unknown keys rejected, errors
naming the file, key path and reason, secrets as SecretStr (environment or systemd credentials).
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from siaga.settings import (
    BrokerSection,
    ConfigError,
    FileSettings,
    is_loopback,
    load_settings,
    read_secret_file,
)

DEFAULT_CONFIG_PATH = Path("/etc/siaga/central.toml")
ENV_PREFIX = "SIAGA_CENTRAL__"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def default_shared() -> Path:
    """$SIAGA_SHARED, else ../shared (where the city's area files are in development)."""
    return Path(os.environ.get("SIAGA_SHARED", "../shared"))


class CentralSection(_Section):
    """Identity of this collector instance (several may share one subscription and database).

    The once-only jobs (decision rules and alerts, daily report, open data and CKAN) run on one
    instance at a time: the holder of the database lease "jobs" (central/store/lease.py), taken over
    by another within jobs_lease_s when it dies. `run_jobs = false` keeps an instance to ingest,
    summaries and the API.
    """

    instance: str = Field(default="central-1", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    run_jobs: bool = True
    jobs_lease_s: float = Field(default=60.0, ge=3, le=3600)


class MqttSection(BrokerSection):
    """Broker connection of the collector and its (optionally shared) subscription.

    `share_group` unset (the default): one collector with a plain persistent subscription, which
    Mosquitto keeps across a broker restart. Set it (the same on every collector) to split the
    load with an MQTT v5 shared subscription; Mosquitto 2.0 does not restore a shared
    subscription after a broker restart, so use that with a broker that does (EMQX) or restart
    the broker only with the collectors connected (docs/deployment.md).
    """

    share_group: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    reconnect_min_s: float = Field(default=0.5, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600)
    max_payload_bytes: int = Field(default=64 * 1024, ge=512, le=16 * 1024 * 1024)


class StorageSection(_Section):
    """Database URL and the batching of writes."""

    url: str = "sqlite:////var/lib/siaga-central/siaga.sqlite3"
    batch_max_rows: int = Field(default=5000, ge=1, le=100_000)
    batch_max_wait_ms: int = Field(default=200, ge=1, le=60_000)
    queue_max: int = Field(default=100_000, ge=100, le=10_000_000)
    writers: int = Field(default=1, ge=1, le=16)
    # Raw count windows older than this are deleted (None: kept for ever);
    # central/store/retention.py.
    retention_days: int | None = Field(default=None, ge=15, le=36_500)


class PlausibilitySection(_Section):
    """What one camera's count window may claim before it counts (central/ingest/plausibility.py).

    A window that breaks one of these is quarantined (kept in the `quarantine` table with its
    reason, shown by GET /quarantine, left out of every figure), not merged. Defaults:
    - max_future_s: box clocks are NTP-synced; 2 minutes covers drift and a late sync. A window
      may end later (an agent's last window at shutdown is emitted whole), but must have begun.
    - max_age_days: None takes `[storage] retention_days`, else 400 days (a year of history and
      a month of backlog): a box's outbox does not hold older windows.
    - max_people_per_minute: 600 people a minute for one camera is a crowd at the capacity of a
      walkway some 8 m wide (Fruin: ~80 people per metre per minute) all passing in view; no
      camera at a market or a gate sees more.
    - max_window_s: the agent's longest window (agent [counting] window_s ≤ 3600).
    - max_seq / max_windows_per_s / seq_slack: seq bounds (rejected, not quarantined): a seq
      above max_seq, or further from the epoch's newest stored seq than seq_slack +
      max_windows_per_s × the seconds between the two, is not one an agent produced (10 windows
      a second is 50 cameras at 5-s windows on one box).
    """

    enabled: bool = True
    max_future_s: float = Field(default=120.0, ge=0, le=86_400)
    max_age_days: int | None = Field(default=None, ge=1, le=36_500)
    max_people_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    max_window_s: int = Field(default=3600, ge=5, le=86_400)
    max_seq: int = Field(default=2**40, ge=1, lt=2**63)
    max_windows_per_s: float = Field(default=10.0, gt=0, le=100_000)
    seq_slack: int = Field(default=100_000, ge=0, le=2**40)
    registry_refresh_s: float = Field(default=300.0, ge=1, le=86_400)


class AreasSection(_Section):
    """The city's area hierarchy, boundaries and the camera registry."""

    wilayah_csv: Path = Field(default_factory=lambda: default_shared() / "geo/semarang_wilayah.csv")
    kelurahan_geojson: Path | None = Field(
        default_factory=lambda: default_shared() / "geo/semarang_kelurahan.geojson"
    )
    cameras_file: Path | None = None


class SummariesSection(_Section):
    """Live summaries published on the retained summary topics.

    min_people_for_ratio and include_unsuitable_cameras also hold for the daily report, the open
    data and the decision rules (central/judged.py): compliance needs min_people_for_ratio people
    *judged*; windows of cameras their agent marks unsuitable for judging masks keep their people
    seen but are left out of compliance unless include_unsuitable_cameras.
    """

    interval_s: float = Field(default=60.0, ge=1, le=3600)
    recent_min: int = Field(default=20, ge=1, le=1440)
    min_people_for_ratio: int = Field(default=20, ge=1, le=100_000)
    include_unsuitable_cameras: bool = False
    stale_after_s: float = Field(default=300.0, ge=10, le=86_400)
    timezone: str = "Asia/Jakarta"


class RulesSection(_Section):
    """Decision rules (central/rules): the rules file (None: embedded defaults), how often."""

    enabled: bool = True
    rules_file: Path | None = None
    interval_s: float = Field(default=60.0, ge=1, le=86_400)


class ApiSection(_Section):
    """The HTTP API.

    Operator data (agents, cameras, raw windows, gaps, alerts, metrics) needs a token with the
    read scope (central/api/access.py); `open_reads = true` serves it to anyone who reaches the
    port, for a trusted network only. Every request body over max_body_bytes is refused (413)
    before it is read: 8 MiB holds the 10,000 rows of one civic POST, pretty-printed.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    open_reads: bool = False
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)


class ReportSection(_Section):
    """The daily provincial report (central/report), written at hour:minute local time."""

    output_dir: Path = Path("/var/lib/siaga-central/reports")
    hour: int = Field(default=12, ge=0, le=23)
    minute: int = Field(default=0, ge=0, le=59)
    timezone: str = "Asia/Jakarta"
    late_after_h: float = Field(default=36.0, gt=0, le=24 * 30)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v


class CkanSection(_Section):
    """Publishing the open data to a CKAN portal (Semarang Satu Data) through its Action API.

    The API token is never inline: token_file, else systemd's credential `ckan-token`.
    """

    enabled: bool = False
    url: str = Field(default="https://data.semarangkota.go.id", pattern=r"^https?://[^\s]+$")
    token_file: Path | None = None
    dataset: str = Field(default="siaga-kelurahan-harian", pattern=r"^[a-z0-9_-]{2,100}$")
    title: str = Field(default="Siaga: kepatuhan masker dan data COVID-19 per kelurahan (harian)",
                       min_length=1, max_length=200)  # fmt: skip
    organization: str = Field(default="pemerintah-kota-semarang",
                              pattern=r"^[a-z0-9_-]{2,100}$")  # fmt: skip
    license_id: str = Field(default="cc-by", min_length=1, max_length=100)
    tags: tuple[str, ...] = ("covid-19", "masker", "kelurahan", "siaga")
    resource_name: str = Field(default="kelurahan-daily", min_length=1, max_length=100)
    timeout_s: float = Field(default=30.0, gt=0, le=600)

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        # The token goes in a header with every call: never in clear text off this machine.
        host = urllib.parse.urlsplit(url).hostname or ""
        if url.startswith("http://") and not is_loopback(host):
            raise ValueError(f"{url}: use https (the API token would cross the network in clear)")
        return url

    retries: int = Field(default=4, ge=0, le=20)  # after the first try, on 5xx / connection errors
    backoff_s: float = Field(default=2.0, ge=0, le=300)  # doubled after each retry


class OpendataSection(_Section):
    """Open data for Semarang Satu Data (central/opendata): daily per-kelurahan files, CKAN."""

    enabled: bool = True
    output_dir: Path = Path("/var/lib/siaga-central/opendata")
    # When the day's files are written (local time of report.timezone); default: the report's.
    hour: int | None = Field(default=None, ge=0, le=23)
    minute: int | None = Field(default=None, ge=0, le=59)
    ckan: CkanSection = CkanSection()


class FleetSection(_Section):
    """The fleet's revoked agents (`revoked.txt` from `siaga fleet`), re-read when it changes."""

    revoked_file: Path | None = None


class DashboardSection(_Section):
    """The dashboard served at /dashboard (central/api/dashboard.py, central/web/static/).

    Defaults work on a LAN with no internet: no map tiles (the kelurahan polygons on a plain
    background) and no WebSocket broker (live figures by server-sent events from this API).
    - tile_url: a tile server the city runs, as a Leaflet URL template
      (`https://tiles.example/{z}/{x}/{y}.png`); the browser fetches tiles from it directly;
    - mqtt_ws_url: the broker's WebSocket listener as the *browser* reaches it (`wss://…/mqtt`);
      the operations view subscribes there with the dashboard credential (mqtt_username and
      mqtt_password, the `siaga fleet service --role dashboard` user), handed only to callers
      with a read token. public_mqtt: the public view subscribes there too, to the area
      summaries only, as public_username / public_password (the `--role public` user, whose ACL
      reads exactly those; not a secret: every visitor's browser receives it) or anonymously
      when unset; otherwise the public view uses the HTTP stream;
    - fallback_after_s: how long the page waits for the broker before it also opens the HTTP
      stream (it keeps retrying the broker and closes the stream once connected).
    """

    enabled: bool = True
    tile_url: str | None = Field(default=None, pattern=r"^(https?:)?//\S+\{z\}\S*$")
    tile_attribution: str = Field(default="", max_length=300)
    mqtt_ws_url: str | None = Field(default=None, pattern=r"^wss?://\S+$")
    mqtt_username: str | None = Field(default=None, max_length=128)
    mqtt_password: SecretStr | None = None
    mqtt_password_file: Path | None = None  # the bundle's mqtt-password (0600/0640)
    public_mqtt: bool = False
    public_username: str | None = Field(default=None, max_length=128)
    public_password: str | None = Field(default=None, max_length=256)
    fallback_after_s: float = Field(default=5.0, ge=0.5, le=300)
    topic_prefix: str | None = None  # None: [mqtt] topic_prefix (the service fills it in)

    @model_validator(mode="before")
    @classmethod
    def _password_from_file(cls, data: Any) -> Any:
        """Read mqtt_password_file at load time (the `siaga fleet service` bundle's file)."""
        if not isinstance(data, dict) or data.get("mqtt_password_file") is None:
            return data
        if data.get("mqtt_password") is not None:
            raise ValueError("set either mqtt_password or mqtt_password_file, not both")
        try:
            secret = read_secret_file(Path(data["mqtt_password_file"]), "mqtt_password_file")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return {**data, "mqtt_password": secret}


class CentralConfig(FileSettings):
    """The whole central configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    central: CentralSection = CentralSection()
    mqtt: MqttSection = MqttSection()
    storage: StorageSection = StorageSection()
    plausibility: PlausibilitySection = PlausibilitySection()
    areas: AreasSection = AreasSection()
    summaries: SummariesSection = SummariesSection()
    api: ApiSection = ApiSection()
    rules: RulesSection = RulesSection()
    report: ReportSection = ReportSection()
    fleet: FleetSection = FleetSection()
    opendata: OpendataSection = OpendataSection()
    dashboard: DashboardSection = DashboardSection()


def load_config(path: Path | None) -> CentralConfig:
    """Load and validate (no file: embedded defaults plus environment)."""
    return load_settings(CentralConfig, path)
