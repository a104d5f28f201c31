"""Alert storage (the `alerts` table) and publishing (`siaga.alert/1`, QoS 1, not retained)."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import Engine, select, update

from central.rules.evaluate import ACTIONS, AlertDecision, evaluate
from central.rules.gather import gather
from central.rules.model import Rules
from central.store import schema
from siaga.timeutil import iso, utc
from siaga.wire import alerts_topic

log = logging.getLogger(__name__)
ALERT_SCHEMA: Final = "siaga.alert/1"
Event = Literal["open", "update", "resolve"]


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A change to one alert: opened, updated (severity or reason changed) or resolved."""

    event: Event
    id: int
    rule: str
    area_code: str
    severity: str
    state: str
    reason: str
    figures: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None

    def payload(self) -> dict[str, Any]:
        """The `siaga.alert/1` message."""
        return {
            "schema": ALERT_SCHEMA, "event": self.event, "id": self.id, "rule": self.rule,
            "action": ACTIONS.get(self.rule, self.rule), "area_code": self.area_code,
            "severity": self.severity, "state": self.state, "reason": self.reason,
            "figures": self.figures, "first_seen": iso(self.first_seen, z=True),
            "last_seen": iso(self.last_seen, z=True), "resolved_at": iso(self.resolved_at, z=True),
        }  # fmt: skip

    def to_bytes(self) -> bytes:
        return json.dumps(self.payload(), separators=(",", ":"), sort_keys=True).encode()


_RANK: Final = {"update": 0, "open": 1, "resolve": 2}


def _merge(pending: str | None, new: Event) -> str:
    """The event still to publish after new: resolve beats open beats update."""
    return new if pending is None or _RANK[new] >= _RANK[pending] else pending


def _event(r: Any) -> AlertEvent:
    """A stored alert as the event waiting to be published (its current state)."""
    return AlertEvent(r.pending_event, int(r.id), r.rule, r.area_code, r.severity, r.state,
                      r.reason, json.loads(r.figures), utc(r.first_seen), utc(r.last_seen),
                      None if r.resolved_at is None else utc(r.resolved_at))  # fmt: skip


class AlertStore:
    """Applies one evaluation's decisions to the `alerts` table; returns what changed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def apply(self, decisions: Sequence[AlertDecision], now: datetime) -> list[AlertEvent]:
        """Open new alerts, update open ones that fire again, resolve open ones that don't;
        an open alert a decision holds (`hold`: no evidence now) is left as it is."""
        a = schema.alerts.c
        now = utc(now)
        events: list[AlertEvent] = []
        held = {d.key for d in decisions if d.hold}
        firing = {d.key: d for d in decisions if not d.hold}
        with self.engine.begin() as conn:
            open_rows = {
                (r.rule, r.area_code): r
                for r in conn.execute(select(schema.alerts).where(a.state == "open"))
            }
            for key, d in sorted(firing.items()):
                figs = json.dumps(d.figures, sort_keys=True)
                row = open_rows.get(key)
                if row is None:
                    inserted = conn.execute(
                        schema.alerts.insert().values(
                            rule=d.rule, area_code=d.area_code, severity=d.severity,
                            state="open", reason=d.reason, figures=figs, first_seen=now,
                            last_seen=now, resolved_at=None, pending_event="open",
                        )
                    ).inserted_primary_key  # fmt: skip
                    new_id = inserted[0] if inserted is not None else 0
                    events.append(AlertEvent("open", int(new_id), d.rule, d.area_code,
                                             d.severity, "open", d.reason, d.figures, now, now,
                                             None))  # fmt: skip
                    continue
                changed = row.severity != d.severity or row.reason != d.reason
                pending = _merge(row.pending_event, "update") if changed else row.pending_event
                conn.execute(
                    update(schema.alerts)
                    .where(a.id == row.id)
                    .values(severity=d.severity, reason=d.reason, figures=figs, last_seen=now,
                            pending_event=pending)
                )  # fmt: skip
                if changed:
                    events.append(AlertEvent("update", int(row.id), d.rule, d.area_code,
                                             d.severity, "open", d.reason, d.figures,
                                             utc(row.first_seen), now, None))  # fmt: skip
            for key, row in sorted(open_rows.items()):
                if key in firing or key in held:
                    continue
                conn.execute(
                    update(schema.alerts)
                    .where(a.id == row.id)
                    .values(state="resolved", resolved_at=now, pending_event="resolve")
                )
                events.append(AlertEvent("resolve", int(row.id), row.rule, row.area_code,
                                         row.severity, "resolved", row.reason,
                                         json.loads(row.figures), utc(row.first_seen),
                                         utc(row.last_seen), now))  # fmt: skip
        return events

    def open_keys(self) -> set[tuple[str, str]]:
        """(rule, area) of every open alert (what the rules' hysteresis needs)."""
        a = schema.alerts.c
        with self.engine.connect() as conn:
            q = select(a.rule, a.area_code).where(a.state == "open")
            return {(r, c) for r, c in conn.execute(q)}

    def pending(self, limit: int = 1000) -> list[AlertEvent]:
        """Alerts whose latest event the broker has not acknowledged, oldest first."""
        a = schema.alerts.c
        q = select(schema.alerts).where(a.pending_event.is_not(None)).order_by(a.id).limit(limit)
        with self.engine.connect() as conn:
            return [_event(r) for r in conn.execute(q)]

    def mark_published(self, events: Sequence[AlertEvent], now: datetime) -> int:
        """Clear the pending event of each alert whose pending event is still the one sent."""
        a = schema.alerts.c
        n = 0
        with self.engine.begin() as conn:
            for e in events:
                n += conn.execute(
                    update(schema.alerts)
                    .where(a.id == e.id, a.pending_event == e.event)
                    .values(pending_event=None, published_at=utc(now))
                ).rowcount
        return n

    def rows(self, state: str | None = None) -> list[dict[str, Any]]:
        """Stored alerts (one state, when given), by id."""
        q = select(schema.alerts).order_by(schema.alerts.c.id)
        if state is not None:
            q = q.where(schema.alerts.c.state == state)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]


# publish(event) → whether it was handed to the client
Publish = Callable[[AlertEvent], bool]
# send(events) → for each event, whether the broker acknowledged it (QoS 1 PUBACK)
Send = Callable[[Sequence[AlertEvent]], Sequence[bool]]


class RulesEngine:
    """One pass: gather figures (SQL), evaluate (pure), store, then send what is pending.

    Store-and-forward: every change leaves its event pending on the alert's row; `flush` sends
    the pending events and clears those the broker acknowledged, so alerts raised while the
    broker is down go out once it is back (the latest state of each alert, at least once).
    """

    def __init__(self, engine: Engine, rules: Rules, send: Send | None = None, *,
                 include_unsuitable: bool = False) -> None:  # fmt: skip
        self.engine, self.rules, self.send = engine, rules, send
        self.include_unsuitable = include_unsuitable  # [summaries] include_unsuitable_cameras
        self.store = AlertStore(engine)

    def run(self, now: datetime | None = None) -> list[AlertEvent]:
        """Evaluate at now (default: the clock); returns the changes (then flushes)."""
        now = now or datetime.now(UTC)
        figures = gather(self.engine, self.rules, now, include_unsuitable=self.include_unsuitable)
        decisions = evaluate(figures, self.rules, now, self.store.open_keys())
        events = self.store.apply(decisions, now)
        self.flush(now)
        return events

    def flush(self, now: datetime | None = None) -> int:
        """Send every pending event; returns how many the broker acknowledged."""
        if self.send is None:
            return 0
        pending = self.store.pending()
        if not pending:
            return 0
        acked = [e for e, ok in zip(pending, self.send(pending), strict=True) if ok]
        self.store.mark_published(acked, now or datetime.now(UTC))
        if len(acked) < len(pending):
            log.warning("%d of %d alert events not acknowledged; kept for the next try",
                        len(pending) - len(acked), len(pending))  # fmt: skip
        return len(acked)


def mqtt_publisher(client: Any, prefix: str) -> Publish:
    """Publish each event at QoS 1 (not retained) on alerts_topic(prefix) with a paho client."""
    topic = alerts_topic(prefix)

    def publish(e: AlertEvent) -> bool:
        info = client.publish(topic, e.to_bytes(), qos=1, retain=False)
        return bool(info.rc == 0)

    return publish


def mqtt_sender(client: Any, prefix: str, connected: Callable[[], bool],
                wait_s: float = 5.0) -> Send:  # fmt: skip
    """Send events at QoS 1 with a paho client and wait (bounded) for the broker's PUBACKs.

    While not connected nothing is handed to paho (it would queue and resend on its own).
    """
    topic = alerts_topic(prefix)

    def send(events: Sequence[AlertEvent]) -> list[bool]:
        if not connected():
            return [False] * len(events)
        infos = [client.publish(topic, e.to_bytes(), qos=1, retain=False) for e in events]
        deadline = time.monotonic() + wait_s
        out = []
        for info in infos:
            if info.rc == 0 and not info.is_published():
                with contextlib.suppress(RuntimeError, ValueError):  # the connection dropped
                    info.wait_for_publish(timeout=max(0.0, deadline - time.monotonic()))
            out.append(info.rc == 0 and info.is_published())
        return out

    return send
