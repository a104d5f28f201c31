"""Real wire-contract count windows for simulated agents, and the malformed payloads central must
reject (each kind with the reason central gives)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from siaga.wire import (
    CountsMessage,
    ModelInfo,
    availability_topic,
    counts_topic,
    status_topic,
)

WIB = timezone(timedelta(hours=7), "WIB")
MODEL = ModelInfo(name="aizoo_facemask_360", version="1",
                  sha256=hashlib.sha256(b"siaga-simulator").hexdigest())  # fmt: skip
FALLBACK_KELURAHAN = ("33.74.01.1001",)


def kelurahan_codes(path: Path | None = None) -> tuple[str, ...]:
    """Kelurahan codes of Semarang from the wilayah CSV, or one synthetic valid code."""
    shared = Path(os.environ.get("SIAGA_SHARED", "../shared"))
    path = path or shared / "geo" / "semarang_wilayah.csv"
    try:
        with path.open(encoding="utf-8") as f:
            codes = tuple(r["code"] for r in csv.DictReader(f) if r.get("level") == "kelurahan")
    except (OSError, KeyError):
        codes = ()
    return codes or FALLBACK_KELURAHAN


def aligned(t: datetime, window_s: int) -> datetime:
    """The start of the window t falls in (windows aligned on the epoch), in WIB."""
    epoch = t.timestamp()
    return datetime.fromtimestamp(epoch - epoch % window_s, UTC).astimezone(WIB)


def counts_message(rng: random.Random, *, agent_id: str, seq: int, camera_id: str,
                   index: int, kelurahan: str, start: datetime, end: datetime,
                   window_s: int) -> CountsMessage:  # fmt: skip
    """One plausible, valid count window."""
    people = rng.randrange(0, 60)
    masked = rng.randrange(0, people + 1)
    frames = window_s * 5
    return CountsMessage(
        agent_id=agent_id, seq=seq, camera_id=camera_id, site=f"site {index}",
        kelurahan_code=kelurahan, window_start=start, window_end=end, people_seen=people,
        masked=masked, unmasked=rng.randrange(0, people - masked + 1),
        occupancy_mean=round(rng.uniform(0, 8), 2), occupancy_max=rng.randrange(0, 12),
        frames_processed=frames, frames_inferred=rng.randrange(0, frames + 1), model=MODEL,
        calibration_version="sim-1",
    )  # fmt: skip


# ---- malformed payloads: kind -> (reason central gives, how to make it) ----


class _Cfg(Protocol):
    @property
    def prefix(self) -> str: ...
    @property
    def oversize_bytes(self) -> int: ...


Maker = Callable[[dict[str, Any], str, str, _Cfg], tuple[str, bytes]]


def _dump(d: dict[str, Any]) -> bytes:
    return json.dumps(d, separators=(",", ":")).encode()


def _edit(**changes: Any) -> Maker:
    def make(d: dict[str, Any], topic: str, _a: str, _c: _Cfg) -> tuple[str, bytes]:
        return topic, _dump({**d, **changes})

    return make


def _drop(key: str) -> Maker:
    def make(d: dict[str, Any], topic: str, _a: str, _c: _Cfg) -> tuple[str, bytes]:
        return topic, _dump({k: v for k, v in d.items() if k != key})

    return make


def _raw(payload: bytes) -> Maker:
    return lambda _d, topic, _a, _c: (topic, payload)


def _oversized(d: dict[str, Any], topic: str, _a: str, cfg: _Cfg) -> tuple[str, bytes]:
    body = _dump(d)
    return topic, body[:-1] + b',"pad":"' + b"x" * max(0, cfg.oversize_bytes - len(body)) + b'"}'


def _other_agent(d: dict[str, Any], _t: str, agent: str, cfg: _Cfg) -> tuple[str, bytes]:
    return counts_topic(agent + "-x", d["camera_id"], cfg.prefix), _dump(d)


def _other_camera(d: dict[str, Any], _t: str, agent: str, cfg: _Cfg) -> tuple[str, bytes]:
    return counts_topic(agent, d["camera_id"] + "-x", cfg.prefix), _dump(d)


def _status(payload: bytes) -> Maker:
    return lambda _d, _t, agent, cfg: (status_topic(agent, cfg.prefix), payload)


def _availability(payload: bytes) -> Maker:
    return lambda _d, _t, agent, cfg: (availability_topic(agent, cfg.prefix), payload)


# A status that is valid in every way but its time: year 1 cannot even be converted to UTC.
_ANCIENT_STATUS = json.dumps({
    "schema": "siaga.status/1", "agent_id": "{agent}", "time": "0001-01-01T00:00:00+05:00",
    "version": "sim", "uptime_s": 1.0, "model": MODEL.model_dump(), "cameras": {},
    "outbox_depth": 0, "dropped": 0,
})  # fmt: skip


def _ancient_status(_d: dict[str, Any], _t: str, agent: str, cfg: _Cfg) -> tuple[str, bytes]:
    return status_topic(agent, cfg.prefix), _ANCIENT_STATUS.replace("{agent}", agent).encode()


MALFORMED: dict[str, tuple[str, Maker]] = {
    "oversized": ("oversized", _oversized),
    "not_utf8": ("not_utf8", _raw(b'{"schema":"siaga.counts/1","site":"\xff\xfe\x00"}')),
    "not_json": ("not_json", _raw(b"{this is not json")),
    "empty": ("not_json", _raw(b"")),
    "json_array": ("schema_invalid", _raw(b"[1,2,3]")),
    "missing_field": ("schema_invalid", _drop("seq")),
    "wrong_type": ("schema_invalid", _edit(seq="twelve")),
    "negative_count": ("schema_invalid", _edit(people_seen=-1)),
    "extra_field": ("schema_invalid", _edit(image="data:image/jpeg;base64,AAAA")),
    "inconsistent": ("schema_invalid", _edit(masked=10**6)),
    "bad_kelurahan": ("schema_invalid", _edit(kelurahan_code="33.74")),
    "naive_time": ("schema_invalid", _edit(window_start="2024-01-01T10:00:00")),
    "ancient_time": (
        "schema_invalid",
        _edit(window_start="0001-01-01T00:00:00+05:00", window_end="0001-01-01T00:01:00+05:00"),
    ),
    "ancient_status": ("schema_invalid", _ancient_status),
    "nul_in_string": ("schema_invalid", _edit(site="pasar\u0000johar")),
    "future_schema": ("unsupported_schema", _edit(schema="siaga.counts/2")),
    "agent_mismatch": ("topic_mismatch", _other_agent),
    "camera_mismatch": ("topic_mismatch", _other_camera),
    "bad_status": ("schema_invalid", _status(b'{"schema":"siaga.status/1"}')),
    "bad_availability": ("schema_invalid", _availability(b"maybe")),
}
