"""`siaga fleet bridge` and `site-config` without a broker: what the files say, and that later
fleet changes keep them in step (the brokers themselves run in tests/central/fleet/topology/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.fleet.provision import Fleet
from central.fleet.registry import FleetError
from central.fleet.sites import add_bridge, write_site_config
from siaga.cli import main

KEL = "33.74.16.1004"


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_bridge_config_acl_and_keeping_in_step(fleet: Fleet, tmp_path: Path) -> None:
    for agent, site in (("johar-1", "Pasar Johar"), ("johar-2", "Pasar Johar"),
                        ("kariadi-1", "RS Kariadi")):  # fmt: skip
        fleet.provision(agent, site=site, kelurahan=KEL, install_dir=Path("/etc/siaga"))
    add_bridge(fleet, "bridge-johar", site="Pasar Johar", hostnames=["mqtt.johar.lan"], ips=[])
    # The centre's ACL: the bridge writes its site's agents only, reads their confirmations.
    acl = _lines(fleet.acl)
    block = acl[acl.index("user bridge-johar") + 1 :]
    block = block[: [*block, ""].index("")]
    assert block == ["topic write siaga/v1/johar-1/#", "topic read siaga/v1/johar-1/ack",
                     "topic write siaga/v1/johar-2/#", "topic read siaga/v1/johar-2/ack",
                     "topic write siaga/v1/bridge/bridge-johar/state",
                     "topic deny siaga/v1/bridge-johar/#"]  # fmt: skip
    assert any(ln.startswith("bridge-johar:$7$") for ln in _lines(fleet.passwd))

    out = tmp_path / "site"
    conf = write_site_config(fleet, "bridge-johar", out, centre="10.0.0.1:8883")
    text = _lines(conf)
    assert conf.stat().st_mode & 0o077 == 0  # it holds the bridge's password
    password = (fleet.sites / "bridge-johar" / "bridge-password").read_text().strip()
    for line in ("connection bridge-johar", "address 10.0.0.1:8883", "remote_username bridge-johar",
                 f"remote_password {password}", f"bridge_cafile {out / 'ca.pem'}",
                 "bridge_insecure false", "cleansession false", "local_cleansession false",
                 "notification_topic siaga/v1/bridge/bridge-johar/state",
                 "topic siaga/v1/+/+/counts out 1", "topic siaga/v1/+/status out 1",
                 "topic siaga/v1/+/availability out 1", "topic siaga/v1/+/ack in 1",
                 "max_queued_messages 250000"):  # fmt: skip
        assert line in text, line
    assert text.index("connection bridge-johar") > max(
        i for i, ln in enumerate(text) if ln.startswith("listener")
    )  # bridge options last
    users = [ln.split(":")[0] for ln in _lines(out / "passwd")]
    assert users == ["johar-1", "johar-2"]  # the site's own agents only
    site_acl = _lines(out / "acl")
    assert "topic write siaga/v1/johar-1/ack" in site_acl  # confirmations come in by the bridge

    # Later changes rewrite the site folder and the centre's lines.
    fleet.provision("johar-3", site="Pasar Johar", kelurahan=KEL, install_dir=Path("/etc/siaga"))
    fleet.revoke("johar-1")
    assert [ln.split(":")[0] for ln in _lines(out / "passwd")] == ["johar-2", "johar-3"]
    acl = _lines(fleet.acl)
    assert "topic write siaga/v1/johar-3/#" in acl and "topic write siaga/v1/johar-1/#" not in acl


def test_bridge_and_site_config_refuse_bad_input(fleet: Fleet, tmp_path: Path) -> None:
    add_bridge(fleet, "bridge-a", site="A", hostnames=[], ips=[])
    with pytest.raises(FleetError, match="already has a bridge"):
        add_bridge(fleet, "bridge-b", site="A", hostnames=[], ips=[])
    with pytest.raises(FleetError, match="already exists"):
        add_bridge(fleet, "bridge-a", site="B", hostnames=[], ips=[])
    with pytest.raises(FleetError, match="reserved"):
        fleet.provision("bridge", site="A", kelurahan=KEL, install_dir=Path("/etc/siaga"))
    with pytest.raises(FleetError, match="HOST:PORT"):
        write_site_config(fleet, "bridge-a", tmp_path / "x", centre="no port")
    with pytest.raises(FleetError, match="no bridge"):
        write_site_config(fleet, "bridge-z", tmp_path / "x")


def test_cli_bridge_and_site_config(fleet: Fleet, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    base = ["fleet", "--fleet-dir", str(fleet.dir)]
    assert main([*base, "bridge", "--name", "bridge-x", "--site", "X", "--ip", "10.9.0.2"]) == 0
    assert "site-config --bridge bridge-x" in capsys.readouterr().out
    assert main([*base, "site-config", "--bridge", "bridge-x", "--out", str(tmp_path / "s")]) == 0
    assert "include_dir" in capsys.readouterr().out
    assert main([*base, "site-config", "--bridge", "nope", "--out", str(tmp_path / "t")]) == 2
    assert "no bridge" in capsys.readouterr().err
