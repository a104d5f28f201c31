"""The agent's side of end-to-end confirmation: what central confirmed, and when to send again.

A PUBACK only says that the broker took a message; a broker that crashes before saving it, or
loses its database, loses it. So with `[mqtt] confirm = "central"` a row stays in the outbox
after its PUBACK until central's retained confirmation (wire.AckMessage on
`siaga/v1/<agent>/ack`) says it committed every seq of the outbox's epoch up to N. Rows the
broker took but central has not confirmed are sent again once `confirm_timeout_s` passes without
progress; the wait doubles on each try that brings none (up to 6 h), so a central that is down
for a day costs a handful of re-sends, not a flood. Central drops what it already has.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time

from paho.mqtt.reasoncodes import ReasonCode

from agent.mqtt_session import Session
from agent.outbox import Outbox
from siaga.wire import AckMessage

log = logging.getLogger(__name__)

MAX_CONFIRM_WAIT_S = 6 * 3600.0
# Mosquitto grants a subscription its ACL does not let the client read (and then delivers
# nothing), so a SUBACK proves nothing: the agent publishes a probe on its own ack topic (agents
# may write below their id) and expects it back within this time.
PROBE_TIMEOUT_S = 10.0
PROBE_SCHEMA = "siaga.ack-probe/1"


def new_probe() -> tuple[str, bytes]:
    """(nonce, payload) of a read-permission probe (never retained, ignored by central)."""
    nonce = secrets.token_urlsafe(9)
    return nonce, json.dumps({"schema": PROBE_SCHEMA, "nonce": nonce}).encode()


def probe_nonce(payload: bytes) -> str | None:
    """The nonce of a probe payload, else None (a confirmation, or anything else)."""
    if PROBE_SCHEMA.encode() not in payload:
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    ok = isinstance(data, dict) and data.get("schema") == PROBE_SCHEMA
    return str(data.get("nonce")) if ok else None


class Confirmations:
    """Applies central's confirmations to the outbox and decides when to re-send."""

    def __init__(self, agent_id: str, outbox: Outbox, *, topic: str, timeout_s: float) -> None:
        self.agent_id, self.outbox, self.topic, self.timeout_s = agent_id, outbox, topic, timeout_s
        self._lock = threading.Lock()
        self._wait_s = timeout_s
        self._progress_at = time.monotonic()  # last time something moved (or a re-send went)
        self.confirmed = 0  # rows removed by central's confirmation
        self.resends = 0  # times unconfirmed rows were sent again

    def start(self, s: Session) -> None:
        """After CONNACK: rows wait for central from now on (those PUBACKed before the SUBACK
        too: they are confirmed, or sent again); subscribe to the confirmations."""
        s.confirming = True
        s.client.subscribe(self.topic, qos=1)
        self._progress_at = time.monotonic()  # this connection's sends get the full wait

    def on_suback(self, s: Session, code: ReasonCode | None) -> str | None:
        """Send the read probe; why confirmations cannot be had, when the broker refused."""
        if code is not None and code.is_failure:
            return f"subscription refused: {code}"
        if s.confirming and not s.probe:
            s.probe, payload = new_probe()
            info = s.client.publish(self.topic, payload, qos=1)
            s.control[info.mid] = self.topic
            s.probe_until = time.monotonic() + PROBE_TIMEOUT_S
        return None

    def probe_failed(self, s: Session) -> str | None:
        """Why confirmations cannot be read, once the probe is overdue; else None."""
        if time.monotonic() <= s.probe_until:
            return None
        return "the probe on it never came back: the ACL does not let this user read it"

    def give_up(self, s: Session) -> None:
        """This connection goes by the broker's PUBACK."""
        s.confirming, s.probe_until = False, math.inf

    def on_message(self, s: Session, payload: bytes) -> int:
        """Apply one message on the ack topic (a confirmation, or our probe); rows removed."""
        nonce = probe_nonce(payload)
        if nonce is not None:
            if nonce == s.probe:
                s.probe_until = math.inf  # this user can read its confirmations
            return 0
        try:
            ack = AckMessage.model_validate_json(payload)
        except ValueError as exc:
            log.warning("ignoring an invalid confirmation: %s", str(exc).splitlines()[0])
            return 0
        if ack.agent_id != self.agent_id:
            return 0
        n = self.outbox.confirm(ack.epoch, ack.seq)
        if n:
            self._progress_at = time.monotonic()
            self._wait_s = self.timeout_s
            with self._lock:
                self.confirmed += n
            log.debug("central confirmed seq ..%d of epoch %s (%d rows)", ack.seq, ack.epoch, n)
        return n

    def resend_from(self, last_sent: int) -> int | None:
        """The seq to send again from, when rows sent up to last_sent are overdue; else None."""
        now = time.monotonic()
        if now - self._progress_at < self._wait_s:
            return None
        first = self.outbox.first_seq()
        self._progress_at = now
        if first is None or first > last_sent:
            return None  # nothing sent is waiting: nothing is overdue
        log.warning("central has not confirmed seq %d..%d for %.0f s; sending them again",
                    first, last_sent, self._wait_s)  # fmt: skip
        self._wait_s = min(MAX_CONFIRM_WAIT_S, 2 * self._wait_s)
        with self._lock:
            self.resends += 1
        return first


def refused_confirmations(where: str, username: str, topic: str, why: str) -> str:
    """What the agent says when the broker will not let it read central's confirmations."""
    return (f"broker {where} does not let user {username!r} read central's confirmations on "
            f"{topic} ({why}): windows now leave the outbox on the broker's acknowledgement, and a "
            "broker crash can lose them. Add `pattern read <prefix>/%u/ack` to the broker's ACL "
            "(siaga fleet broker-config writes it)")  # fmt: skip
