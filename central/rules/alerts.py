"""Alert storage (the `alerts` table) and publishing (`siaga.alert/1`, QoS 1, not retained)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import Engine, select, update

from central import schema
from central.rules.evaluate import ACTIONS, AlertDecision, evaluate
from central.rules.gather import gather
from central.rules.model import Rules
from siaga.wire import alerts_topic

log = logging.getLogger(__name__)
ALERT_SCHEMA: Final = "siaga.alert/1"
Event = Literal["open", "update", "resolve"]


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _iso(t: datetime | None) -> str | None:
    return None if t is None else _utc(t).isoformat().replace("+00:00", "Z")


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
            "figures": self.figures, "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen), "resolved_at": _iso(self.resolved_at),
        }  # fmt: skip

    def to_bytes(self) -> bytes:
        return json.dumps(self.payload(), separators=(",", ":"), sort_keys=True).encode()


class AlertStore:
    """Applies one evaluation's decisions to the `alerts` table; returns what changed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def apply(self, decisions: Sequence[AlertDecision], now: datetime) -> list[AlertEvent]:
        """Open new alerts, update open ones that fire again, resolve open ones that don't."""
        a = schema.alerts.c
        now = _utc(now)
        events: list[AlertEvent] = []
        firing = {d.key: d for d in decisions}
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
                            last_seen=now, resolved_at=None,
                        )
                    ).inserted_primary_key  # fmt: skip
                    new_id = inserted[0] if inserted is not None else 0
                    events.append(AlertEvent("open", int(new_id), d.rule, d.area_code,
                                             d.severity, "open", d.reason, d.figures, now, now,
                                             None))  # fmt: skip
                    continue
                conn.execute(
                    update(schema.alerts)
                    .where(a.id == row.id)
                    .values(severity=d.severity, reason=d.reason, figures=figs, last_seen=now)
                )
                if row.severity != d.severity or row.reason != d.reason:
                    events.append(AlertEvent("update", int(row.id), d.rule, d.area_code,
                                             d.severity, "open", d.reason, d.figures,
                                             _utc(row.first_seen), now, None))  # fmt: skip
            for key, row in sorted(open_rows.items()):
                if key in firing:
                    continue
                conn.execute(
                    update(schema.alerts)
                    .where(a.id == row.id)
                    .values(state="resolved", resolved_at=now)
                )
                events.append(AlertEvent("resolve", int(row.id), row.rule, row.area_code,
                                         row.severity, "resolved", row.reason,
                                         json.loads(row.figures), _utc(row.first_seen),
                                         _utc(row.last_seen), now))  # fmt: skip
        return events

    def rows(self, state: str | None = None) -> list[dict[str, Any]]:
        """Stored alerts (one state, when given), by id."""
        q = select(schema.alerts).order_by(schema.alerts.c.id)
        if state is not None:
            q = q.where(schema.alerts.c.state == state)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]


# publish(topic, payload) → whether it was handed to the client
Publish = Callable[[AlertEvent], bool]


class RulesEngine:
    """One pass: gather figures (SQL), evaluate (pure), store, publish each change."""

    def __init__(self, engine: Engine, rules: Rules, publish: Publish | None = None) -> None:
        self.engine, self.rules, self.publish = engine, rules, publish
        self.store = AlertStore(engine)

    def run(self, now: datetime | None = None) -> list[AlertEvent]:
        """Evaluate at now (default: the clock); returns the changes, published when set."""
        now = now or datetime.now(UTC)
        decisions = evaluate(gather(self.engine, self.rules, now), self.rules, now)
        events = self.store.apply(decisions, now)
        if self.publish is not None:
            for e in events:
                if not self.publish(e):
                    log.warning("alert %s %s/%s not published", e.event, e.rule, e.area_code)
        return events


def mqtt_publisher(client: Any, prefix: str) -> Publish:
    """Publish each event at QoS 1 (not retained) on alerts_topic(prefix) with a paho client."""
    topic = alerts_topic(prefix)

    def publish(e: AlertEvent) -> bool:
        info = client.publish(topic, e.to_bytes(), qos=1, retain=False)
        return bool(info.rc == 0)

    return publish
