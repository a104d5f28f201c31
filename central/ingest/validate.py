"""Validation of one MQTT delivery against the wire contract and its topic.

Pure: bytes and a topic in, a verdict out (a reject reason, or the parsed message). The
collector calls it on its worker threads; tests call it directly. Counts are parsed in pydantic's
strict mode (JSON strings still give datetimes); whether a valid window is plausible is judged
after, by central.ingest.plausibility (its seq reasons join REASONS here as rejects).
"""

from __future__ import annotations

from collections.abc import Container
from datetime import UTC, datetime
from typing import NamedTuple

from pydantic import ValidationError

from central.ingest.packets import user_property
from siaga.wire import AVAILABILITY_SINCE, OFFLINE, ONLINE, CountsMessage, StatusMessage

# Why a message is rejected (metrics and the rejects table use these names).
REASONS = ("oversized", "not_utf8", "not_json", "schema_invalid", "unsupported_schema",
           "topic_mismatch", "unknown_topic", "revoked_agent", "internal_error",
           "seq_out_of_range", "seq_jump")  # fmt: skip


class Outcome(NamedTuple):
    """The verdict on one message: a reason to reject it, or what it carries.

    A NamedTuple, not a frozen dataclass: made once per message, and a frozen dataclass's
    __init__ costs about a microsecond more at tens of thousands of messages a second.
    """

    reason: str | None = None
    detail: str = ""
    counts: CountsMessage | None = None
    status: StatusMessage | None = None
    availability: str | None = None
    agent_id: str = ""
    since: datetime | None = None  # availability: the start of the agent's connection


def route(topic: str, prefix: str) -> tuple[str, str, str] | None:
    """(kind, agent, camera) of a counts, status or availability topic; None otherwise."""
    head = prefix + "/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head) :].split("/")
    if len(parts) == 3 and parts[2] == "counts":
        return "counts", parts[0], parts[1]
    if len(parts) == 2 and parts[1] in ("status", "availability"):
        return parts[1], parts[0], ""
    return None


def check(topic: str, payload: bytes, *, prefix: str, max_payload_bytes: int,
          size: int | None = None, revoked: Container[str] = frozenset(),
          props: bytes = b"") -> Outcome:  # fmt: skip
    """Validate one delivery against the wire contract, its topic and the revoked agents."""
    where = route(topic, prefix)
    if where is None:
        return Outcome("unknown_topic", "not a counts, status or availability topic")
    if where[1] in revoked:
        return Outcome("revoked_agent", f"agent {where[1]!r} has been revoked")
    size = len(payload) if size is None else size
    if size > max_payload_bytes:
        return Outcome("oversized", f"{size} bytes, over the {max_payload_bytes} byte limit")
    kind, agent, camera = where
    if kind == "availability":
        if not payload:
            return Outcome(agent_id=agent)  # a retained message being cleared
        value = payload.decode("utf-8", "replace").strip()
        if value not in (ONLINE, OFFLINE):
            return Outcome("schema_invalid", f"availability is not online/offline: {value!r:.40}")
        return Outcome(availability=value, agent_id=agent, since=connection_since(props))
    if kind == "status" and not payload:
        return Outcome(agent_id=agent)
    if b"\\u0000" in payload:
        # Valid JSON, but PostgreSQL text cannot hold NUL: the batch would fail forever.
        return Outcome("schema_invalid", "a string contains a NUL character")
    model = CountsMessage if kind == "counts" else StatusMessage
    try:
        # Counts strictly: "6", 5.0 or true where an integer belongs is no agent's output (they
        # serialise the same model), and lax parsing let such values through as numbers.
        msg = model.model_validate_json(payload, strict=kind == "counts")
    except ValidationError as exc:
        return Outcome(_reason(exc, payload), _detail(exc))
    if msg.agent_id != agent or (isinstance(msg, CountsMessage) and msg.camera_id != camera):
        got = msg.agent_id + (f"/{msg.camera_id}" if isinstance(msg, CountsMessage) else "")
        return Outcome("topic_mismatch", f"payload says {got!r}, topic {topic!r}")
    if isinstance(msg, CountsMessage):
        return Outcome(counts=msg, agent_id=agent)
    return Outcome(status=msg, agent_id=agent)


def connection_since(props: bytes) -> datetime | None:
    """The AVAILABILITY_SINCE user property of an availability message, when present and sane."""
    raw = user_property(props, AVAILABILITY_SINCE)
    if raw is None:
        return None
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if t.tzinfo is None or not 2000 <= t.year < 2100:
        return None
    return t.astimezone(UTC)


def _reason(exc: ValidationError, payload: bytes) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    if any(e["type"] == "json_invalid" for e in errors):
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            return "not_utf8"
        return "not_json"
    if any(e["type"] == "literal_error" and e["loc"] == ("schema",) for e in errors):
        return "unsupported_schema"
    return "schema_invalid"


def _detail(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}" for e in errors[:5]]
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more
