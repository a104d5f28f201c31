"""Acceptance: a real Mosquitto configured by `siaga fleet` (TLS listeners, password file, ACL,
CRL), a real agent publisher loading its provisioned bundle, a real collector on SQLite.

One fleet and one broker for the module (starting them is the slow part); each test probes one
rule. Every password and private key made here is then searched for in every captured log line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from central.config import CentralConfig, MqttSection, StorageSection
from central.fleet.ca import Authority, create_ca
from central.ingest.collector import Collector
from central.store.writes import Store
from siaga.wire import counts_topic
from tests.central.fleet.broker_world import (
    WAIT_S,
    World,
    attempt,
    collector,
    raw_client,
    running_agent,
    said_since,
)
from tests.central.ingest.test_ingest import counts_message
from tests.mqtt_broker import mosquitto_binary, wait_until

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


# ---- refused ----


def test_anonymous_is_refused(world: World) -> None:
    a = attempt(world.section(world.pw_port))
    assert not a.connected and "anonymous client" in a.why


def test_wrong_password_is_refused_in_plain_words(world: World) -> None:
    a = attempt(world.section(world.pw_port, password=SecretStr("not-the-password")), "box-a")
    assert not a.connected
    assert "does not accept the credentials of user 'box-a'" in a.why
    # A password agent's password is not a way around the certificate listener either.
    b = attempt(world.section(world.cert_port, password=SecretStr(world.password("box-a"))),
                "box-a")  # fmt: skip
    assert not b.connected


def test_certificate_from_another_ca_is_refused(world: World) -> None:
    other = create_ca("Someone else's CA")
    stranger = Authority.load(other.cert_pem, other.key_pem).client_cert("box-c")
    crt, key = world.tmp / "stranger.pem", world.tmp / "stranger.key"
    crt.write_bytes(stranger.cert_pem)
    key.write_bytes(stranger.key_pem)
    key.chmod(0o600)
    n = len(world.capture.lines)
    a = attempt(world.section(world.cert_port, cert_file=crt, key_file=key))
    assert not a.connected
    said = "\n".join(world.capture.lines[n:])
    # Mosquitto just closes the TLS connection (no alert): said as plainly as can be.
    assert "refused this client's certificate" in said


def test_expired_certificate_is_refused(world: World) -> None:
    now = datetime.now(UTC)
    old = world.fleet.authority().client_cert("box-c", not_before=now - timedelta(days=30),
                                              not_after=now - timedelta(days=1))  # fmt: skip
    crt, key = world.tmp / "expired.pem", world.tmp / "expired.key"
    crt.write_bytes(old.cert_pem)
    key.write_bytes(old.key_pem)
    key.chmod(0o600)
    n = len(world.capture.lines)
    a = attempt(world.section(world.cert_port, cert_file=crt, key_file=key))
    assert not a.connected
    said = "\n".join(world.capture.lines[n:])
    # The TLS alert names the reason, unless the broker's close overtakes it.
    assert "client's certificate: it has expired" in said or "refused this client's" in said


def test_wrong_ca_on_the_client_side_is_named(world: World) -> None:
    other = world.tmp / "other-ca.pem"
    other.write_bytes(create_ca("Not the fleet CA").cert_pem)
    a = attempt(world.section(world.pw_port, ca=other, password=SecretStr(world.password("box-a"))),
                "box-a")  # fmt: skip
    assert not a.connected
    assert "wrong CA" in a.why and "certificate verify failed" in a.why


def test_revoked_agents_are_refused(world: World) -> None:
    pw = world.section(world.pw_port, password=SecretStr(world.password("box-r")))
    assert not attempt(pw, "box-r").connected  # password withdrawn
    rc = world.bundle("box-rc")
    cert = world.section(world.cert_port, cert_file=rc / "client.pem", key_file=rc / "client.key")
    n = len(world.capture.lines)
    assert not attempt(cert).connected  # certificate in the CRL
    said = "\n".join(world.capture.lines[n:])
    assert "client's certificate: it has been revoked" in said or "refused this client's" in said


def test_renewed_certificate_is_accepted_and_revocation_covers_both(world: World) -> None:
    old = world.bundle("box-renew")
    new = world.tmp / "box-renew-renewal"
    assert world.cli("renew", "box-renew", "--out", str(new), "--days", "30") == 0
    assert (new / "client.pem").read_bytes() != (old / "client.pem").read_bytes()
    renewed = world.section(world.cert_port, cert_file=new / "client.pem",
                            key_file=new / "client.key")  # fmt: skip
    previous = world.section(world.cert_port, cert_file=old / "client.pem",
                             key_file=old / "client.key")  # fmt: skip
    assert attempt(renewed).connected and attempt(previous).connected  # overlap while installing
    world.cli("revoke", "box-renew")
    world.reload_broker()
    assert not attempt(renewed).connected and not attempt(previous).connected


# ---- accepted, confined ----


def test_provisioned_agents_deliver_over_tls_and_are_stored(world: World) -> None:
    c, store = collector(world, "accept")
    try:
        with running_agent(world, "box-a", 3) as (a, ka), running_agent(world, "box-c", 2) as pc:
            assert wait_until(lambda: len(store.stored_keys()) == 5, WAIT_S), c.metrics()
            assert a.stats().connected and pc[0].stats().connected
        assert store.stored_keys() == ka | pc[1]
    finally:
        c.stop(timeout_s=2.0)
        store.close()


def test_agent_cannot_write_another_agents_topic(world: World) -> None:
    c, store = collector(world, "acl")
    try:
        box_a = world.section(world.pw_port, password=SecretStr(world.password("box-a")))
        with raw_client(world, box_a, "box-a") as a:
            forged = counts_message("box-b", 7).to_payload()
            a.publish(counts_topic("box-b", "cam1"), forged, qos=1).wait_for_publish(5)
            a.publish(counts_topic("box-b", "cam1"), forged, qos=0)
            # Then a message of its own: once it is stored, the forged ones had their chance.
            own = counts_message("box-a", 100).to_payload()
            a.publish(counts_topic("box-a", "cam1"), own, qos=1).wait_for_publish(5)
            assert wait_until(lambda: ("box-a", 100) in store.stored_keys(), WAIT_S), c.metrics()
        assert store.stored_keys() == {("box-a", 100)}
        m = c.metrics()
        assert m["rejected_total"] == 0  # never reached central at all: the broker dropped it
        # (The dashboard credential: test_dashboard_credential.py, on the WebSocket listener.)
        own = counts_message("box-a", 102).to_payload()
        with raw_client(world, box_a, "box-a") as a:
            a.publish(counts_topic("box-a", "cam1"), own, qos=1).wait_for_publish(5)
        assert wait_until(lambda: ("box-a", 102) in store.stored_keys(), WAIT_S)
        assert store.stored_keys() == {("box-a", 100), ("box-a", 102)}
    finally:
        c.stop(timeout_s=2.0)
        store.close()


def test_central_rejects_topic_payload_mismatch_and_revoked_agents(world: World) -> None:
    """An admin may write anywhere: central's own checks are what stop these."""
    c, store = collector(world, "mismatch")
    try:
        admin = world.section(world.pw_port, password=SecretStr(world.password("ops")))
        with raw_client(world, admin, "ops") as ops:
            ops.publish(counts_topic("box-a", "cam1"), counts_message("box-b", 5).to_payload(),
                        qos=1).wait_for_publish(5)  # fmt: skip
            ops.publish(counts_topic("box-r", "cam1"), counts_message("box-r", 1).to_payload(),
                        qos=1).wait_for_publish(5)  # fmt: skip
            ops.publish(
                counts_topic("box-late", "cam1"), counts_message("box-late", 1).to_payload(), qos=1
            ).wait_for_publish(5)
            expected = {"topic_mismatch": 1, "revoked_agent": 1}
            assert wait_until(lambda: c.metrics()["rejected"] == expected, WAIT_S), c.metrics()[
                "rejected"
            ]
            assert wait_until(lambda: ("box-late", 1) in store.stored_keys(), WAIT_S)
            bl = world.bundle("box-late")
            late_cert = world.section(world.cert_port, cert_file=bl / "client.pem",
                                      key_file=bl / "client.key")  # fmt: skip
            assert attempt(late_cert).connected
            # Revoked while everything runs: central follows the file, no restart.
            world.cli("revoke", "box-late", "--reason", "stolen")
            world.reload_broker()
            assert wait_until(lambda: "box-late" in c._revoked.current(), 5)
            ops.publish(
                counts_topic("box-late", "cam1"), counts_message("box-late", 2).to_payload(), qos=1
            ).wait_for_publish(5)
            expected["revoked_agent"] = 2
            assert wait_until(lambda: c.metrics()["rejected"] == expected, WAIT_S), c.metrics()[
                "rejected"
            ]
        assert store.stored_keys() == {("box-late", 1)}
        assert store.reject_totals() == expected
        # ... and the broker, reloaded, no longer lets it in.
        late = world.section(world.pw_port, password=SecretStr(world.password("box-late")))
        assert not attempt(late, "box-late").connected
        assert not attempt(late_cert).connected  # the CRL is re-read on SIGHUP too
    finally:
        c.stop(timeout_s=2.0)
        store.close()


def test_central_says_why_it_cannot_connect(world: World) -> None:
    other = world.tmp / "central-other-ca.pem"
    other.write_bytes(create_ca("Not the fleet CA").cert_pem)
    cases: tuple[tuple[dict[str, Any], str], ...] = (
        ({"ca_file": other}, "wrong ca"),
        ({"password": SecretStr("wrong-password-for-central")}, "not authorized"),
    )
    for mqtt_over, expected in cases:
        m: dict[str, Any] = {
            "host": "127.0.0.1", "port": world.pw_port, "tls": True, "username": "central",
            "ca_file": world.fleet.ca_cert, "reconnect_min_s": 0.2, "reconnect_max_s": 0.5,
            "password_file": world.bundle("central") / "mqtt-password", **mqtt_over,
        }  # fmt: skip
        if "password" in mqtt_over:
            del m["password_file"]
        url = f"sqlite:///{world.tmp}/refused.sqlite3"
        cfg = CentralConfig(mqtt=MqttSection(**m), storage=StorageSection(url=url))
        store = Store.open(url)
        n = len(world.capture.lines)
        c = Collector(cfg, store)
        c.start()
        try:
            assert wait_until(lambda: expected in said_since(world, n), 5), said_since(world, n)  # noqa: B023
            assert not c.wait_ready(0.2)
        finally:
            c.stop(timeout_s=1.0)
            store.close()


# ---- last: nothing secret in any log ----


def test_no_secret_in_any_log(world: World) -> None:
    secrets = {p.read_text().strip() for p in world.fleet.bundles.rglob("mqtt-password")}
    keys = [world.fleet.ca_key, world.fleet.server_key, *world.fleet.bundles.glob("*/client.key"),
            *world.tmp.glob("*.key")]  # fmt: skip
    for key in keys:
        body = [ln for ln in key.read_text().splitlines() if ln and not ln.startswith("-----")]
        secrets.update(ln for ln in body if len(ln) >= 16)
    assert len(secrets) > 10
    logs = "\n".join(world.capture.lines) + "\n".join(world.cli_output)
    logs += world.broker.log_path.read_text(errors="replace")
    assert len(world.capture.lines) > 50  # debug logging really was on
    assert "siaga.mqtt.paho" in logs and "agent.publisher" in logs
    assert "central.ingest.collector" in logs
    leaked = [s[:4] + "…" for s in secrets if s in logs]
    assert not leaked, f"secrets in the logs: {leaked}"
