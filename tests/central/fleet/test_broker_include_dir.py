"""`siaga fleet broker-config` output loaded as documented: `include_dir` of its folder.

Mosquitto loads every *.conf of an include_dir folder; EMQX's ACL (Erlang terms) once lay there
as `emqx-acl.conf` and stopped the broker (`Unknown configuration variable "%%"`). The world's
broker (broker_world.py) is started exactly so; these tests check the folder, an upgrade from
such an old folder, a reload after a refresh, and that the ACL is in force.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from siaga.wire import counts_topic
from tests.central.fleet.broker_world import World, attempt, raw_client
from tests.central.ingest.test_ingest import counts_message
from tests.mqtt_broker import MosquittoBroker, free_port, mosquitto_binary, wait_until

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
OLD_EMQX = "%% Siaga fleet ACL for EMQX 5 (an older version's output)\n{deny, all}.\n"


def test_the_folder_holds_only_mosquittos_conf(world: World) -> None:
    assert [p.name for p in world.broker_dir.glob("*.conf")] == ["mosquitto.conf"]
    acl = (world.broker_dir / "emqx" / "acl.conf").read_text()
    assert acl.startswith("%%") and acl.rstrip().endswith("{deny, all}.")
    assert "emqx/acl.conf" in (world.broker_dir / "EMQX.md").read_text()
    conf = (world.broker_dir / "mosquitto.conf").read_text()
    assert f"# Load it with `include_dir {world.broker_dir}` in the main" in conf
    assert world.broker.running


def test_an_old_folder_is_repaired_by_broker_config(world: World, tmp_path: Path) -> None:
    out = tmp_path / "old"
    out.mkdir()
    (out / "emqx-acl.conf").write_text(OLD_EMQX)
    world.cli("broker-config", "--out", str(out), "--bind", "127.0.0.1")
    assert not (out / "emqx-acl.conf").exists() and (out / "emqx" / "acl.conf").is_file()
    # A second broker on the repaired folder starts (its own ports: the world's are taken).
    conf = (out / "mosquitto.conf").read_text()
    pw, cert = free_port(), free_port()
    conf = conf.replace(f"listener {world.pw_port} ", f"listener {pw} ")
    conf = conf.replace(f"listener {world.cert_port} ", f"listener {cert} ")
    conf = conf.replace(f"listener {world.ws_port} ", f"listener {free_port()} ")
    (out / "mosquitto.conf").write_text(conf)
    broker = MosquittoBroker(tmp_path / "mosq", port=pw, plain_listener=False,
                             allow_anonymous=None, persistence=False,
                             extra_config=[f"include_dir {out}"])  # fmt: skip
    try:
        broker.start()
        box = world.section(pw, password=SecretStr(world.password("box-a")))
        assert attempt(box, "box-a").connected
        assert not attempt(world.section(pw)).connected  # anonymous: refused
    finally:
        broker.kill()


def test_refresh_removes_an_old_acl_and_the_broker_reloads(world: World) -> None:
    (world.broker_dir / "emqx-acl.conf").write_text(OLD_EMQX)  # left by an older version
    world.cli("refresh")
    assert [p.name for p in world.broker_dir.glob("*.conf")] == ["mosquitto.conf"]
    world.reload_broker()
    box = world.section(world.pw_port, password=SecretStr(world.password("box-a")))
    assert wait_until(lambda: attempt(box, "box-a").connected, 5)
    assert world.broker.running


def test_the_acl_is_in_force(world: World) -> None:
    central = world.section(world.pw_port, password=SecretStr(world.password("central")))
    box_a = world.section(world.pw_port, password=SecretStr(world.password("box-a")))
    seen: list[str] = []
    subscribed = threading.Event()
    with raw_client(world, central, "central") as sub:

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            seen.append(msg.topic)

        sub.on_message = on_message
        sub.on_subscribe = lambda *_a: subscribed.set()
        sub.subscribe("siaga/v1/+/+/counts", qos=1)
        assert subscribed.wait(5)
        with raw_client(world, box_a, "box-a") as a:
            for agent, seq in (("box-b", 1), ("box-a", 2)):  # another's topic, then its own
                topic = counts_topic(agent, "cam1")
                a.publish(topic, counts_message(agent, seq).to_payload(), qos=1).wait_for_publish(5)
        assert wait_until(lambda: counts_topic("box-a", "cam1") in seen, 5)
    assert seen == [counts_topic("box-a", "cam1")]  # box-b's was dropped by the broker
