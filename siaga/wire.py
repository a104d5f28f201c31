"""The wire contract (version 1) between edge agents and central: topics and payload models.

Both `agent` and `central` import this module and nothing else of each other; it depends on
pydantic alone. Changing a field here is a protocol change: bump the schema version. Adding an
optional field is not, provided central is upgraded before the agents (central refuses unknown
fields): that is how `epoch`, `first_unconfirmed` and the status's delivery fields came in, and
the mask judgement (`not_judged`, `suitable`, the status's `judgement`), the status's per-camera
`calibration` (version and the detector's confusion counts at the camera's thresholds, which
central reads to correct that camera's compliance: issue 16), and the status's per-camera load
(`detect_fps` reached, `overloaded`, `decoder`: issue 18).

Mask judgement: `people_seen` counts every confirmed person; `masked` and `unmasked` only those
whose face the agent could judge (big enough, face-shaped, one class clearly ahead, in more than
one frame: agent/judge.py); `not_judged` the rest. Compliance is masked / (masked + unmasked).
An agent without judgement sends no `not_judged`; its people were all judged (people_seen =
masked + unmasked), so central reads a missing `not_judged` as people_seen - masked - unmasked.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

COUNTS_SCHEMA: Final = "siaga.counts/1"
STATUS_SCHEMA: Final = "siaga.status/1"
ACK_SCHEMA: Final = "siaga.ack/1"
DEFAULT_PREFIX = "siaga/v1"
ONLINE, OFFLINE = "online", "offline"
# MQTT v5 user property on availability messages (the "online" publish and the "offline" will):
# when the connection they belong to started (ISO 8601, UTC). The payload stays "online" /
# "offline"; central orders one agent's reports by it, "offline" winning a tie (its own will), so
# a late or redelivered old report never overrides a newer one. Optional: without it, central's
# receive time orders them.
AVAILABILITY_SINCE = "since"
# Central caps what it accepts; agents never come near it (a counts message is ~600 bytes).
MAX_PAYLOAD_BYTES = 64 * 1024

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# An outbox incarnation: a random token the agent draws when its outbox is created, so that a
# wiped or replaced outbox (new SD card, reinstall) that starts again at seq 1 is a new series at
# central instead of a run of "duplicates" silently dropped.
EPOCH_PATTERN = r"^[A-Za-z0-9_-]{8,32}$"
Epoch = Annotated[str, StringConstraints(pattern=EPOCH_PATTERN)]
KELURAHAN_PATTERN = r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$"
Ident = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
KelurahanCode = Annotated[str, StringConstraints(pattern=KELURAHAN_PATTERN)]
Count = Annotated[int, Field(ge=0, le=10_000_000)]


def _plausible(t: datetime) -> datetime:
    # A time far outside the service life cannot be true, and near year 1 or 9999 it cannot even
    # be converted to UTC: refused here, it never reaches (and never stalls) a database write.
    if not 2000 <= t.year < 2100:
        raise ValueError("must be a time between the years 2000 and 2099")
    return t


Timestamp = Annotated[AwareDatetime, AfterValidator(_plausible)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ModelInfo(_Wire):
    """Which model produced the counts."""

    name: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=64)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class CountsMessage(_Wire):
    """One closed count window of one camera (`siaga/v1/{agent}/{camera}/counts`, QoS 1)."""

    schema_: Literal["siaga.counts/1"] = Field(default=COUNTS_SCHEMA, alias="schema")
    agent_id: Ident
    seq: int = Field(ge=0, lt=2**63)
    camera_id: Ident
    site: str = Field(min_length=1, max_length=128)
    kelurahan_code: KelurahanCode
    window_start: Timestamp
    window_end: Timestamp
    people_seen: Count
    masked: Count
    unmasked: Count
    occupancy_mean: float = Field(ge=0, le=100_000)
    occupancy_max: Count
    frames_processed: Count
    frames_inferred: Count
    model: ModelInfo
    calibration_version: str | None = Field(default=None, max_length=64)
    # Delivery (optional: agents before end-to-end confirmation send neither). Central keys a
    # window on (agent_id, epoch, seq); an agent without an epoch is epoch "".
    epoch: Epoch | None = None
    # The lowest seq the agent still held unconfirmed when it built this message: every seq
    # below it was confirmed by central or dropped by the outbox cap. Central confirms from here.
    first_unconfirmed: int | None = Field(default=None, ge=0, lt=2**63)
    # Mask judgement (optional: see the module docstring). `suitable` is the agent's verdict on
    # the camera when the window closed: False = this view cannot judge masks (central keeps its
    # people, leaves it out of compliance); None = not assessed (too few faces yet, older agent).
    not_judged: Count | None = None
    suitable: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CountsMessage:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        if self.masked + self.unmasked > self.people_seen:
            raise ValueError("masked + unmasked cannot exceed people_seen")
        if (
            self.not_judged is not None
            and self.masked + self.unmasked + self.not_judged != self.people_seen
        ):
            raise ValueError("masked + unmasked + not_judged must equal people_seen")
        if self.frames_inferred > self.frames_processed:
            raise ValueError("frames_inferred cannot exceed frames_processed")
        if self.first_unconfirmed is not None and self.first_unconfirmed > self.seq:
            raise ValueError("first_unconfirmed cannot exceed seq")
        return self

    def to_payload(self) -> bytes:
        """Compact JSON bytes as published."""
        return self.model_dump_json(by_alias=True).encode()


class Judgement(_Wire):
    """Can this camera judge masks? Over the agent's recent faces (agent/judge.py)."""

    suitable: bool | None  # None: too few faces seen yet to say
    reason: str | None = Field(default=None, max_length=300)  # why not, in words
    faces: Count  # face detections assessed (the recent ones, in the camera's zones)
    judgeable: Count  # of them, big enough, face-shaped and clear enough to judge


class ClassOutcomes(_Wire):
    """Labelled detections of one true class, by what the detector called them at the
    thresholds in use: kept as masked, kept as unmasked, or dropped (below its class's threshold).
    """

    masked: Count
    unmasked: Count
    missed: Count = 0


class DetectorConfusion(_Wire):
    """The detector's measured errors on a camera's labels at its thresholds (calibration/fit.py
    `confusion_at`): counts, not rates, so central knows how many labels each rate rests on.
    Central corrects that camera's compliance with it (central/uncertainty/correction.py)."""

    mask: ClassOutcomes  # truly masked faces
    no_mask: ClassOutcomes  # truly unmasked faces
    not_a_face: ClassOutcomes = ClassOutcomes(masked=0, unmasked=0)  # false detections

    @model_validator(mode="after")
    def _both_classes(self) -> DetectorConfusion:
        for name, c in (("mask", self.mask), ("no_mask", self.no_mask)):
            if c.masked + c.unmasked + c.missed == 0:
                raise ValueError(f"{name}: no labelled faces of this class")
        return self


class CameraCalibration(_Wire):
    """The calibration a camera runs with: its version (as in its counts' calibration_version)
    and, when the file has it, the detector's confusion at its thresholds."""

    version: str = Field(min_length=1, max_length=64)
    confusion: DetectorConfusion | None = None


class CameraHealth(_Wire):
    """Per-camera health figures inside a status message."""

    fps: float = Field(ge=0)
    inference_ms: float = Field(ge=0)
    reconnects: Count
    stalls: Count
    corrupt_frames: Count = 0
    connected: bool
    judgement: Judgement | None = None  # optional: older agents send none
    calibration: CameraCalibration | None = None  # optional: uncalibrated cameras, older agents
    # Optional (agents before issue 18 send none): the detect fps the camera reached over the
    # agent's overload window (30 s; none until the camera has delivered that long), whether
    # that fell under 90 % of its setting, i.e. the box cannot keep up with its cameras, and how
    # its frames are decoded: "software", a hardware API such as "vaapi", or "software (…)"
    # saying why the hardware decoding asked for is not in use.
    detect_fps: float | None = Field(default=None, ge=0)
    overloaded: bool | None = None
    decoder: str | None = Field(default=None, max_length=200)


class StatusMessage(_Wire):
    """Retained agent health (`siaga/v1/{agent}/status`)."""

    schema_: Literal["siaga.status/1"] = Field(default=STATUS_SCHEMA, alias="schema")
    agent_id: Ident
    time: Timestamp
    version: str
    uptime_s: float = Field(ge=0)
    model: ModelInfo
    cameras: dict[str, CameraHealth]
    outbox_depth: Count
    dropped: Count
    last_seq: int | None = None
    # Optional (older agents send none): the outbox's epoch, the highest seq central confirmed,
    # and why the outbox cannot be written now (windows then wait in memory, `held` of them).
    epoch: Epoch | None = None
    confirmed_seq: int | None = Field(default=None, ge=0, lt=2**63)
    outbox_error: str | None = Field(default=None, max_length=500)
    held: Count = 0

    def to_payload(self) -> bytes:
        """Compact JSON bytes as published."""
        return self.model_dump_json(by_alias=True).encode()


class AckMessage(_Wire):
    """Central's confirmation to one agent (`siaga/v1/{agent}/ack`, QoS 1, retained): every seq
    of `epoch` up to and including `seq` is committed to the store. The agent keeps each window
    until this says so, so a broker that crashes or loses its data loses nothing."""

    schema_: Literal["siaga.ack/1"] = Field(default=ACK_SCHEMA, alias="schema")
    agent_id: Ident
    epoch: Epoch
    seq: int = Field(ge=0, lt=2**63)
    time: Timestamp

    def to_payload(self) -> bytes:
        """Compact JSON bytes as published."""
        return self.model_dump_json(by_alias=True).encode()


def counts_topic(agent_id: str, camera_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Topic of one camera's count windows."""
    return f"{prefix}/{agent_id}/{camera_id}/counts"


def status_topic(agent_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Retained health topic of an agent."""
    return f"{prefix}/{agent_id}/status"


def availability_topic(agent_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Retained online/offline topic of an agent (its last will)."""
    return f"{prefix}/{agent_id}/availability"


def ack_topic(agent_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Retained topic of central's confirmations to one agent (the one topic an agent reads)."""
    return f"{prefix}/{agent_id}/ack"


# Topic levels under the prefix that are not agents: no agent or service may take these names
# (an agent "summary" would be allowed by `pattern write siaga/v1/%u/#` to forge summaries;
# "bridge" carries the site bridges' link state, siaga/v1/bridge/<bridge>/state).
RESERVED_LEVELS: Final = frozenset({"summary", "alerts", "bridge"})


def alerts_topic(prefix: str = DEFAULT_PREFIX) -> str:
    """Topic of decision-rule alerts."""
    return f"{prefix}/alerts"


def summary_topic(
    level: Literal["city", "kecamatan", "kelurahan", "camera"],
    key: str = "",
    prefix: str = DEFAULT_PREFIX,
) -> str:
    """Retained summary topic for one area (key: area code, or `agent/camera` for a camera)."""
    return f"{prefix}/summary/city" if level == "city" else f"{prefix}/summary/{level}/{key}"


def counts_subscription(prefix: str = DEFAULT_PREFIX, share_group: str | None = "central") -> str:
    """Subscription for every agent's counts, as an MQTT v5 shared subscription by default."""
    topic = f"{prefix}/+/+/counts"
    return f"$share/{share_group}/{topic}" if share_group else topic


_COUNTS_TOPIC = re.compile(r"^(?P<prefix>.+)/(?P<agent>[^/]+)/(?P<camera>[^/]+)/counts$")


def parse_counts_topic(topic: str, prefix: str = DEFAULT_PREFIX) -> tuple[str, str] | None:
    """(agent_id, camera_id) of a counts topic, or None when the topic is not one."""
    m = _COUNTS_TOPIC.match(topic)
    if m is None or m["prefix"] != prefix:
        return None
    return m["agent"], m["camera"]


def window_bounds(t: datetime, window_s: int) -> tuple[datetime, datetime]:
    """The wall-clock-aligned window [start, end) containing aware time t."""
    epoch = t.timestamp()
    start = epoch - (epoch % window_s)
    return (
        datetime.fromtimestamp(start, t.tzinfo),
        datetime.fromtimestamp(start + window_s, t.tzinfo),
    )
