"""The fleet mode of the simulator: its MQTT packets, credentials file, and a small real run on
Mosquitto where each agent has its own connection and publishes only on its own topics."""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path

import pytest

from central.ingest.packets import connect_packet, publish_packet
from central.sim.fleet import FleetConfig, FleetSimulation, load_credentials
from central.sim.mqtt import AsyncMqttClient, MqttError, read_packet
from siaga import cli
from siaga.wire import CountsMessage, parse_counts_topic
from tests.mqtt_broker import MosquittoBroker, Subscriber, free_port


def test_packets_read_back() -> None:
    async def roundtrip(data: bytes) -> tuple[int, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_packet(reader)

    payload = b"x" * 300  # a two-byte remaining length
    packet = publish_packet("siaga/v1/a/cam1/counts", payload, 7, dup=True)
    kind, body = asyncio.run(roundtrip(packet))
    assert kind == 0x3A  # PUBLISH, DUP, QoS 1
    # topic, packet id, no properties (MQTT 5), payload
    assert body == struct.pack("!H", 22) + b"siaga/v1/a/cam1/counts" + b"\x00\x07\x00" + payload
    connect = connect_packet("agent-1", keepalive_s=60, session_expiry_s=0, receive_max=20,
                             max_packet_bytes=1 << 20, username="agent-1", password="s3cret",
                             clean_start=True)  # fmt: skip
    kind, body = asyncio.run(roundtrip(connect))
    assert kind == 0x10
    # protocol name, level 5, flags: user name + password + clean start, keepalive 60
    assert body[:10] == b"\x00\x04MQTT\x05\xc2\x00\x3c"
    assert body.endswith(b"\x00\x07agent-1\x00\x07agent-1\x00\x06s3cret")


def test_credentials_file(tmp_path: Path) -> None:
    good = tmp_path / "ok"
    good.write_text("# fleet\nagent-1:pw:with:colons\n\nagent-2:other\n")
    assert load_credentials(good) == [("agent-1", "pw:with:colons"), ("agent-2", "other")]
    for text, why in [("agent-1\n", "expected"), ("a/b:pw\n", "expected"),
                      ("agent-1:x\nagent-1:y\n", "twice")]:  # fmt: skip
        bad = tmp_path / "bad"
        bad.write_text(text)
        with pytest.raises(ValueError, match=why):
            load_credentials(bad)


def test_passwords_to_a_remote_broker_need_tls(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.write_text("agent-1:pw\n")
    with pytest.raises(ValueError, match="clear text: give --ca-file"):
        FleetSimulation(FleetConfig(agents=1, host="192.0.2.10", credentials=creds))
    FleetSimulation(FleetConfig(agents=1, host="127.0.0.1", credentials=creds))  # loopback: fine


def test_the_password_is_never_in_the_client_repr() -> None:
    c = AsyncMqttClient("127.0.0.1", 1, "agent-1", username="agent-1", password="s3cret")
    assert "s3cret" not in repr(c)


def test_no_broker_is_a_clear_error() -> None:
    cfg = FleetConfig(agents=2, windows=1, interval_s=0, port=free_port(), give_up_s=0.5)
    with pytest.raises(MqttError, match="cannot reach"):
        FleetSimulation(cfg).run()


def test_each_agent_its_own_connection_and_topics(mosquitto: MosquittoBroker) -> None:
    with Subscriber(mosquitto, ["siaga/v1/#"]) as sub:
        cfg = FleetConfig(agents=40, windows=2, interval_s=0.5, backlog=3, outage_s=0.2,
                          host=mosquitto.host, port=mosquitto.port, seed=3)  # fmt: skip
        res = FleetSimulation(cfg).run()
        assert res.sent == res.unique == 40 * 5 and res.connected_max == 40
        assert res.all_connected_at_once and res.reconnects == 40  # one per agent, the outage
        assert sub.wait_for(lambda m: len(m) >= res.sent, 10)
    seen: dict[str, list[int]] = {}
    for m in sub.snapshot():
        msg = CountsMessage.model_validate_json(m.payload)
        assert parse_counts_topic(m.topic) == (msg.agent_id, msg.camera_id)
        seen.setdefault(msg.agent_id, []).append(msg.seq)
    assert {(a, s) for a, seqs in seen.items() for s in seqs} == res.keys
    assert all(seqs == sorted(seqs) for seqs in seen.values())  # each agent's order kept
    # Each agent logged in as itself, on its own connection.
    log = mosquitto.log_path.read_text()
    assert all(f"as {a} " in log and f"u'{a}'" in log for a in seen), mosquitto.log_tail()


def test_command_line_per_agent(
    mosquitto: MosquittoBroker, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rc = cli.main(["simulate", "agents", "--per-agent", "--count", "5", "--interval", "0.2",
                   "--windows", "2", "--backlog", "2", "--outage-s", "0.1",
                   "--port", str(mosquitto.port),
                   "--keys-out", str(tmp_path / "keys.csv")])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["sent"] == summary["unique"] == 20 and summary["connected_max"] == 5
    rows = (tmp_path / "keys.csv").read_text().splitlines()
    assert rows[0] == "agent_id,seq" and len(rows) == 21 and "sim-0,4" in rows


def test_command_line_bad_credentials_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "creds"
    bad.write_text("no-colon-here\n")
    rc = cli.main(["simulate", "agents", "--per-agent", "--credentials", str(bad)])
    assert rc == 2 and "expected 'agent_id:password'" in capsys.readouterr().out


def test_tls_with_the_fleet_ca_and_a_clear_error_for_another_ca(tmp_path: Path) -> None:
    ca_mod = pytest.importorskip("central.fleet.ca")
    ca, other = ca_mod.create_ca(), ca_mod.create_ca("another CA")
    server = ca_mod.Authority.load(ca.cert_pem, ca.key_pem).server_cert([], ["127.0.0.1"])
    files = {"ca.pem": ca.cert_pem, "other.pem": other.cert_pem, "server.pem": server.cert_pem,
             "server.key": server.key_pem}  # fmt: skip
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    port = free_port()
    broker = MosquittoBroker(tmp_path / "mq", port=port, plain_listener=False, extra_config=[
        f"listener {port} 127.0.0.1", f"cafile {tmp_path / 'ca.pem'}",
        f"certfile {tmp_path / 'server.pem'}", f"keyfile {tmp_path / 'server.key'}"])  # fmt: skip
    with broker:
        cfg = FleetConfig(agents=10, windows=2, interval_s=0.2, host="127.0.0.1", port=port,
                          ca_file=tmp_path / "ca.pem")  # fmt: skip
        res = FleetSimulation(cfg).run()
        assert res.sent == res.unique == 20 and res.all_connected_at_once
        bad = FleetConfig(agents=1, windows=1, interval_s=0, host="127.0.0.1", port=port,
                          ca_file=tmp_path / "other.pem")  # fmt: skip
        with pytest.raises(MqttError, match=r"TLS with .* failed: .*CERTIFICATE_VERIFY_FAILED"):
            FleetSimulation(bad).run()


def test_keepalive_pings_hold_an_idle_connection(mosquitto: MosquittoBroker) -> None:
    async def idle() -> tuple[bool, int]:
        c = AsyncMqttClient(mosquitto.host, mosquitto.port, "idle-1", keepalive_s=1)
        await c.connect()
        # Mosquitto drops a client silent for 1.5 keepalives; it checks every few seconds.
        await asyncio.sleep(8)
        alive = c.connected
        await c.publish("siaga/v1/idle-1/cam1/counts", b"{}")
        await c.wait_acked(5)
        acked = c.acked
        await c.disconnect()
        return alive, acked

    alive, acked = asyncio.run(idle())
    assert alive and acked == 1
    assert "exceeded timeout" not in mosquitto.log_path.read_text()
