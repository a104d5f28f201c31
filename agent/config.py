"""Agent configuration: a TOML file plus SIAGA_AGENT__SECTION__KEY environment overrides.

One pydantic model per section, unknown keys rejected, limits in Field(ge/le). Errors name the
file, the key path and the reason. Secrets are SecretStr, read from the environment or from
systemd's $CREDENTIALS_DIRECTORY, and never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from siaga.camera_url import has_user_only, redact_url, with_password
from siaga.settings import (
    BrokerSection,
    ConfigError,
    FileSettings,
    credential,
    load_settings,
    read_secret_file,
)
from siaga.wire import Ident, KelurahanCode

DEFAULT_CONFIG_PATH = Path("/etc/siaga/agent.toml")
ENV_PREFIX = "SIAGA_AGENT__"
Point = tuple[float, float]
HwAccel = Literal["none", "any", "vaapi", "d3d11", "mfx", "drm"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentSection(_Section):
    """Who this box is and where it stands."""

    id: Ident
    site: str = Field(min_length=1, max_length=128)
    kelurahan_code: KelurahanCode


class CameraSection(_Section):
    """One camera: its source, zones and face-size limits."""

    id: Ident
    source: str = Field(min_length=1, description="file path, rtsp://, http(s):// or usb:N")
    enabled: bool = True
    loop: bool = Field(default=False, description="restart a video file at its end")
    kelurahan_code: KelurahanCode | None = None
    open_timeout_s: float = Field(default=10.0, gt=0, le=120)
    read_timeout_s: float = Field(default=10.0, gt=0, le=120)
    stall_timeout_s: float = Field(default=20.0, gt=0, le=600)
    reconnect_min_s: float = Field(default=1.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600)
    detect_fps: float | None = Field(default=None, gt=0, le=60)
    # Decoding (agent/capture.py). One FFmpeg thread per camera: a box serves many cameras, and
    # FFmpeg's default of a thread per core costs a quarter more CPU per frame in wake-ups and
    # frame hand-offs (measured on the 720p25 clip); 0 lets FFmpeg choose (one camera, big stream).
    decode_threads: int = Field(default=1, ge=0, le=16)
    # Hardware decoding, opt-in (docs/deployment.md, "Hardware decoding"): "any" takes whatever
    # OpenCV's FFmpeg finds; a named API that cannot start falls back to software, logged and
    # reported in the status (`decoder`).
    hw_accel: HwAccel = "none"
    include_zones: list[list[Point]] = Field(default_factory=list)
    exclude_zones: list[list[Point]] = Field(default_factory=list)
    # 16 px: calibration.report.UNRELIABLE_FACE_PX, the width under which the project measured
    # mask / no_mask AP50 to fall apart (README, size study); a test keeps the two equal.
    min_face_px: int = Field(default=16, ge=1, le=4096)
    max_face_px: int = Field(default=2048, ge=1, le=8192)
    calibration_file: Path | None = None
    password_file: Path | None = Field(
        default=None,
        description="the password of an rtsp://user@host/… source, kept out of this file "
        "(mode 0600/0640); under systemd, LoadCredential=camera-<id> does the same",
    )

    @model_validator(mode="after")
    def _check(self) -> CameraSection:
        if self.password_file is not None and not has_user_only(self.source):
            raise ValueError("password_file needs a source URL with a user name and no "
                             "password (rtsp://user@host/…)")  # fmt: skip
        for poly in self.include_zones + self.exclude_zones:
            if len(poly) < 3:
                raise ValueError("a zone polygon needs at least 3 points")
            if any(not (0 <= x <= 1 and 0 <= y <= 1) for x, y in poly):
                raise ValueError("zone points are normalised: x and y between 0 and 1")
        if self.min_face_px > self.max_face_px:
            raise ValueError("min_face_px cannot exceed max_face_px")
        return self

    def open_source(self) -> str:
        """The source to open: a URL with a user name gets its password from password_file or
        the systemd credential camera-<id>, read now (a changed password needs no restart)."""
        if not has_user_only(self.source):
            return self.source
        secret: SecretStr | None
        if self.password_file is not None:
            secret = read_secret_file(self.password_file, f"cameras.{self.id}.password_file")
        else:
            try:
                secret = credential(f"camera-{self.id}")
            except (OSError, UnicodeDecodeError) as exc:  # the capture retries; never crashes
                raise ConfigError(f"cameras.{self.id}: systemd credential camera-{self.id}: "
                                  f"cannot read: {exc}") from None  # fmt: skip
        if secret is None:
            return self.source
        return with_password(self.source, secret.get_secret_value())


class ModelSection(_Section):
    """Which detector runs, and how."""

    name: str = "siaga_facemask_v1"
    search_path: list[Path] = Field(default_factory=list)
    # Threads per inference; unset: one where the box runs at least as many cameras as it has
    # cores (the cameras are the parallelism), else the cores shared out (agent/service.py).
    intra_op_threads: int | None = Field(default=None, ge=0, le=64)
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    conf_threshold: float | None = Field(default=None, ge=0, le=1)


class SamplingSection(_Section):
    """How often frames are inferred, and the motion gate that skips still scenes."""

    detect_fps: float = Field(default=5.0, gt=0, le=60)
    motion_gate: bool = True
    motion_threshold: float = Field(default=0.004, ge=0, le=1)
    motion_keepalive_s: float = Field(default=5.0, ge=0, le=3600)


class TrackerSection(_Section):
    """Association of detections into tracks: one person, one count."""

    iou_threshold: float = Field(default=0.25, gt=0, le=1)
    max_age_s: float = Field(default=1.5, gt=0, le=60)
    min_hits: int = Field(default=2, ge=1, le=100)


class JudgingSection(_Section):
    """Which faces may be judged masked or unmasked (agent/judge.py says why each limit)."""

    # false: every confirmed person is judged by the detector's vote, as agents before 1.4 did.
    enabled: bool = True
    # Face WIDTH (px) under which nobody is judged: calibration.report.UNRELIABLE_FACE_PX, where
    # the project measured mask / no_mask AP50 to fall apart; a test keeps the two equal.
    min_face_px: int = Field(default=16, ge=1, le=4096)
    # Height / width of a face box: 0.6-2.0 holds 99 % of the labelled faces of 16 px and more;
    # whole walking bodies (2-3) and flat objects (under 0.6) fall outside.
    min_aspect: float = Field(default=0.6, gt=0, le=10)
    max_aspect: float = Field(default=2.0, gt=0, le=10)
    # How clearly one class must win: |p_mask - p_no_mask| / (p_mask + p_no_mask).
    min_margin: float = Field(default=0.5, ge=0, le=1)
    # A second opinion on every judgeable face: a face-crop classifier trained by the project
    # (registry name; "" turns it off). A sighting where it disagrees with the detector, or is
    # itself unsure (min_margin), is not judged. Costs one 64x64 inference per judgeable face.
    second_opinion: str = Field(default="siaga_maskcls_v1", max_length=128)
    # Judgeable sightings a person needs before a mask decision (one good frame can be a fluke).
    min_frames: int = Field(default=2, ge=1, le=100)
    # Suitability of the camera: over its last `recent_faces` face detections, at least
    # `min_faces` seen and at least `min_judgeable_share` of them judgeable, or "not suitable".
    recent_faces: int = Field(default=300, ge=10, le=100_000)
    min_faces: int = Field(default=30, ge=1, le=100_000)
    min_judgeable_share: float = Field(default=0.2, ge=0, le=1)

    @model_validator(mode="after")
    def _ranges(self) -> JudgingSection:
        if self.min_aspect >= self.max_aspect:
            raise ValueError("min_aspect must be below max_aspect")
        if self.min_faces > self.recent_faces:
            raise ValueError("min_faces cannot exceed recent_faces")
        return self


class CountingSection(_Section):
    """Wall-clock-aligned count windows."""

    window_s: int = Field(default=60, ge=5, le=3600)

    @model_validator(mode="after")
    def _aligned(self) -> CountingSection:
        if 86400 % self.window_s:
            raise ValueError("window_s must divide a day (e.g. 10, 30, 60, 300, 900)")
        return self


class MqttSection(BrokerSection):
    """Broker connection of the agent."""

    max_inflight: int = Field(default=20, ge=1, le=1000)
    # "central": a window leaves the outbox when central confirms it stored it (retained
    # siaga/v1/<agent>/ack), so a broker crash or a lost broker database loses nothing; needs a
    # central that confirms and the ACL line `pattern read siaga/v1/%u/ack` (`siaga fleet`
    # writes it). "broker": on the broker's PUBACK (centrals before confirmation).
    confirm: Literal["central", "broker"] = "central"
    # Windows the broker took but central has not confirmed after this long are sent again (the
    # wait doubles on each try without progress, up to 6 h; central drops the duplicates).
    confirm_timeout_s: float = Field(default=300.0, ge=5, le=21600)


class OutboxSection(_Section):
    """The durable outbox on disk."""

    path: Path = Path("/var/lib/siaga-agent/outbox.sqlite3")
    max_messages: int = Field(default=500_000, ge=10, le=50_000_000)
    # Windows kept in memory while the outbox cannot be written (disk full, read-only, locked);
    # beyond this the oldest is dropped and counted. Lost if the agent stops meanwhile.
    max_held: int = Field(default=10_000, ge=1, le=1_000_000)


class HealthSection(_Section):
    """Status publishing and the optional Prometheus endpoint (agent/metrics.py).

    The endpoint is off unless metrics_port is set (0: any free port, for tests) and listens on
    loopback unless metrics_host names another address: for a fleet's Prometheus to scrape the
    box, set the box's LAN address (or 0.0.0.0) AND allow only the Prometheus server to reach
    the port in the box's firewall (docs/deployment.md, "Metrics"): the endpoint has no
    authentication, and it tells who runs which cameras.
    """

    status_interval_s: float = Field(default=30.0, ge=1, le=3600)
    # A camera whose detect fps over this window falls under 90 % of its setting is reported
    # overloaded in the status and the log (agent/load.py).
    overload_window_s: float = Field(default=30.0, ge=2, le=3600)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"


class DebugSection(_Section):
    """Local debugging only: off by default; frames never leave the box, faces are blurred."""

    save_frames: bool = False
    dir: Path = Path("/var/lib/siaga-agent/debug")
    every_n_inferred: int = Field(default=50, ge=1, le=100000)


class AgentConfig(FileSettings):
    """The whole agent configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    agent: AgentSection
    cameras: list[CameraSection] = Field(min_length=1)
    model: ModelSection = ModelSection()
    sampling: SamplingSection = SamplingSection()
    tracker: TrackerSection = TrackerSection()
    judging: JudgingSection = JudgingSection()
    counting: CountingSection = CountingSection()
    mqtt: MqttSection = MqttSection()
    outbox: OutboxSection = OutboxSection()
    health: HealthSection = HealthSection()
    debug: DebugSection = DebugSection()

    @model_validator(mode="after")
    def _unique_cameras(self) -> AgentConfig:
        ids = [c.id for c in self.cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"camera ids must be unique; repeated: {', '.join(dupes)}")
        return self

    def camera_kelurahan(self, camera: CameraSection) -> str:
        """The camera's kelurahan, defaulting to the agent's."""
        return camera.kelurahan_code or self.agent.kelurahan_code


def load_config(path: Path) -> AgentConfig:
    """Load and validate the agent config (file, then environment, then credentials)."""
    return load_settings(AgentConfig, path)


def redacted(cfg: AgentConfig) -> dict[str, Any]:
    """The effective config as plain data, secrets shown as '**********' and camera URLs
    without their user and password (check-config's output goes to the journal)."""
    data = cfg.model_dump(mode="json")
    for cam in data.get("cameras", []):
        cam["source"] = redact_url(cam["source"])
    return data
