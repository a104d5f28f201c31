"""The fleet registry and the `siaga fleet` CLI without a broker: provisioning, bundles,
revocation, broker-config (Mosquitto, EMQX), area checks."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from central.fleet.passwd import (
    verify_password,
)
from central.fleet.provision import Fleet
from central.fleet.registry import FleetError
from central.ingest.revoked import parse_revoked
from siaga.cli import main

KEL = "33.74.16.1004"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- registry and CLI ----


def test_init_provision_list_revoke(fleet: Fleet, tmp_path: Path) -> None:
    assert mode(fleet.dir) == 0o700 and mode(fleet.ca_key) == 0o600
    assert mode(fleet.server_key) == 0o600 and mode(fleet.registry_path) == 0o600
    b = fleet.provision("smg-01", site="Pasar Johar", kelurahan=KEL, auth="both",
                        cameras=[("gate", "rtsp://cam/1")], out=tmp_path / "box",
                        install_dir=tmp_path / "box", secrets_via="file")  # fmt: skip
    assert b == tmp_path / "box"
    assert {p.name for p in b.iterdir()} == {"agent.toml", "ca.pem", "mqtt-password",
                                             "client.pem", "client.key", "INSTALL.txt"}  # fmt: skip
    assert mode(b / "mqtt-password") == 0o600 and mode(b / "client.key") == 0o600
    from agent.config import load_config

    cfg = load_config(b / "agent.toml")  # the generated config is valid as it stands
    assert (cfg.agent.id, cfg.agent.kelurahan_code, cfg.cameras[0].source) == (
        "smg-01", KEL, "rtsp://cam/1")  # fmt: skip
    m = cfg.mqtt
    assert m.tls_enabled and m.host == "broker.semarang.test" and m.port == 8884
    assert m.password_file == b / "mqtt-password" and m.cert_file == b / "client.pem"
    password = (b / "mqtt-password").read_text().strip()
    assert m.password is not None and m.password.get_secret_value() == password
    assert password not in (b / "agent.toml").read_text()
    reg = fleet.load()
    assert password not in fleet.registry_path.read_text()
    assert verify_password(password, reg.agents["smg-01"].password_hash or "")
    assert "smg-01:" in fleet.passwd.read_text()
    fleet.revoke("smg-01", "stolen")
    assert "smg-01" not in fleet.passwd.read_text()
    assert parse_revoked(fleet.revoked_file.read_text()) == {"smg-01"}
    from cryptography import x509

    crl = x509.load_pem_x509_crl(fleet.crl.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(reg.agents["smg-01"].cert_serial or 0)
    assert "user smg-01\ntopic deny siaga/v1/#" in fleet.acl.read_text()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"agent_id": "bad/id"}, "invalid agent id"),
        ({"agent_id": "a+b"}, "invalid agent id"),
        ({"agent_id": ""}, "invalid agent id"),
        ({"agent_id": "summary"}, "is reserved"),
        ({"agent_id": "alerts"}, "is reserved"),
        ({"kelurahan": "33.74.16"}, "invalid kelurahan code"),
        ({"site": " "}, "--site"),
        ({"auth": "token"}, "--auth"),
        ({"cameras": [("c/1", "usb:0")]}, "invalid camera id"),
    ],
)
def test_provision_rejects_bad_input(fleet: Fleet, kw: dict, message: str) -> None:
    args = {"agent_id": "smg-02", "site": "Pasar", "kelurahan": KEL, **kw}
    agent_id = args.pop("agent_id")
    with pytest.raises(FleetError, match=message):
        fleet.provision(agent_id, **args)
    assert fleet.load().agents == {}


def test_ids_are_never_reused_nor_shared_with_services(fleet: Fleet) -> None:
    fleet.provision("smg-03", site="P", kelurahan=KEL)
    with pytest.raises(FleetError, match="already provisioned"):
        fleet.provision("smg-03", site="P", kelurahan=KEL, out=fleet.dir / "other")
    fleet.revoke("smg-03")
    with pytest.raises(FleetError, match="already revoked"):
        fleet.revoke("smg-03")
    with pytest.raises(FleetError, match="no agent"):
        fleet.revoke("nobody")
    fleet.add_service("central", "central")
    with pytest.raises(FleetError, match="service user name"):
        fleet.provision("central", site="P", kelurahan=KEL)
    with pytest.raises(FleetError, match="already exists"):
        fleet.add_service("smg-03", "dashboard")
    with pytest.raises(FleetError, match="already exists"):
        fleet.init()


def test_cli_round_trip_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("SIAGA_FLEET_DIR", raising=False)
    assert main(["fleet", "list"]) == 2
    assert "--fleet-dir" in capsys.readouterr().err
    d = str(tmp_path / "f")
    assert main(["fleet", "--fleet-dir", d, "list"]) == 2
    assert "fleet init" in capsys.readouterr().err
    assert main(["fleet", "init", "--fleet-dir", d, "--ip", "not-an-ip"]) == 2
    assert "not an IP address" in capsys.readouterr().err
    assert main(["fleet", "init", "--fleet-dir", d, "--cert-port", "70000"]) == 2
    assert "1 to 65535" in capsys.readouterr().err
    assert main(["fleet", "init", "--fleet-dir", d, "--cert-port", "8883"]) == 2
    assert "must differ" in capsys.readouterr().err
    assert main(["fleet", "init", "--fleet-dir", d, "--prefix", "siaga/#"]) == 2
    assert "--prefix" in capsys.readouterr().err
    monkeypatch.setenv("SIAGA_FLEET_DIR", d)
    assert main(["fleet", "init", "--hostname", "mqtt.city", "--ip", "10.0.0.9"]) == 0
    assert main(["fleet", "provision", "--id", "smg-9", "--site", "Pasar", "--kelurahan", KEL,
                 "--auth", "cert", "--camera", "gate=usb:1"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "one-time bundle" in out
    assert main(["fleet", "provision", "--id", "x", "--site", "P", "--kelurahan", "1.2",
                 "--camera", "gate"]) == 2  # fmt: skip
    assert "ID=SOURCE" in capsys.readouterr().err
    assert main(["fleet", "provision", "--id", "x", "--site", "P", "--kelurahan", "1.2"]) == 2
    assert "invalid kelurahan code" in capsys.readouterr().err
    assert main(["fleet", "revoke", "smg-9", "--reason", "decommissioned"]) == 0
    assert "CRL" in capsys.readouterr().out
    assert main(["fleet", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["status"], r["auth"]) for r in rows] == [("smg-9", "revoked", "cert")]
    assert rows[0]["revoked_reason"] == "decommissioned"
    assert main(["fleet", "list"]) == 0
    assert "0 active, 1 revoked" in capsys.readouterr().out
    assert main(["fleet", "broker-config", "--out", str(tmp_path / "bc")]) == 0
    conf = (tmp_path / "bc" / "mosquitto.conf").read_text()
    for line in (
        "allow_anonymous false",
        "require_certificate true",
        "require_certificate false",
        "use_identity_as_username true",
        "listener 8883",
        "listener 8884",
        "max_queued_messages 1000000",
        "max_queued_bytes 0",
    ):
        assert line in conf.splitlines()
    assert f"crlfile {tmp_path / 'bc' / 'crl.pem'}" in conf
    assert mode(tmp_path / "bc" / "server.key") == 0o600
    assert "peer_cert_as_username = cn" in (tmp_path / "bc" / "EMQX.md").read_text()


def test_broker_config_group_survives_revoke_and_refresh(fleet: Fleet, tmp_path: Path) -> None:
    import grp

    from central.fleet.brokerconf import write_broker_config

    with pytest.raises(FleetError, match="no such group"):
        write_broker_config(fleet, tmp_path / "bc", group="no-such-group-here")
    group = grp.getgrgid(os.getgid()).gr_name
    out = tmp_path / "bc2"
    write_broker_config(fleet, out, group=group)
    assert mode(out / "passwd") == 0o640 and mode(out / "server.key") == 0o640
    fleet.provision("smg-05", site="P", kelurahan=KEL)
    assert "smg-05:" in (out / "passwd").read_text()  # kept in step with the fleet
    fleet.revoke("smg-05")
    before = (out / "crl.pem").read_bytes()
    fleet.refresh()
    assert "smg-05" not in (out / "passwd").read_text()
    assert mode(out / "passwd") == 0o640 and (out / "passwd").stat().st_gid == os.getgid()
    assert (out / "crl.pem").read_bytes() != before  # freshly signed


def test_refresh_renews_the_broker_certificate_before_it_ends(
    fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime, timedelta

    from central.fleet.brokerconf import write_broker_config
    from central.fleet.files import atomic_write

    out = tmp_path / "bc"
    write_broker_config(fleet, out)
    first = fleet.server_cert_end()
    assert first - datetime.now(UTC) > timedelta(days=800)
    _, ends = fleet.refresh()
    assert ends == first  # far from its end: kept
    # Six weeks left (a fleet that has run for two years): the next refresh renews it.
    reg = fleet.load()
    short = fleet.authority().server_cert(reg.broker.hostnames, reg.broker.ips, days=42)
    atomic_write(fleet.server_cert, short.cert_pem)
    atomic_write(fleet.server_key, short.key_pem)
    _, ends = fleet.refresh()
    assert ends - datetime.now(UTC) > timedelta(days=800)
    assert (out / "server.pem").read_bytes() == fleet.server_cert.read_bytes()  # broker's copy
    assert (out / "server.key").read_bytes() == fleet.server_key.read_bytes()
    assert mode(out / "server.key") == 0o600
    # On demand, through the command line; agents whose certificates end soon are named.
    fleet.provision("smg-07", site="P", kelurahan=KEL, auth="cert", days=30)
    before = fleet.server_cert.read_bytes()
    assert main(["fleet", "--fleet-dir", str(fleet.dir), "refresh", "--renew-broker"]) == 0
    text = capsys.readouterr()
    assert fleet.server_cert.read_bytes() != before and "broker certificate until" in text.out
    assert "smg-07's client certificate ends" in text.err


def test_kelurahan_checked_against_the_area_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(tmp_path / "f")
    assert main(["fleet", "--fleet-dir", d, "init"]) == 0
    csv = tmp_path / "wilayah.csv"
    rows = ["code,name,level,parent_code", "33.74,Kota Semarang,kota,",
            "33.74.16,Tugu,kecamatan,33.74",
            "33.74.16.1004,Randugarut,kelurahan,33.74.16"]  # fmt: skip
    csv.write_text("\n".join(rows) + "\n")
    base = ["fleet", "--fleet-dir", d, "provision", "--site", "P", "--wilayah", str(csv)]
    assert main([*base, "--id", "a1", "--kelurahan", "33.74.16.1099"]) == 2
    assert "not in the city's area file" in capsys.readouterr().err
    assert main([*base, "--id", "a1", "--kelurahan", KEL, "--install-dir", "rel/dir"]) == 2
    assert "must be an absolute path" in capsys.readouterr().err
    assert main([*base, "--id", "a1", "--kelurahan", KEL]) == 0
    missing = ["--wilayah", str(tmp_path / "none.csv")]
    assert main([*base[:-2], *missing, "--id", "a2", "--kelurahan", KEL]) == 2
    assert "--wilayah" in capsys.readouterr().err


def test_emqx_acl_follows_the_registry(fleet: Fleet, tmp_path: Path) -> None:
    from central.fleet.brokerconf import write_broker_config

    fleet.add_service("central", "central")
    fleet.provision("smg-07", site="P", kelurahan=KEL)
    out = tmp_path / "bc"
    write_broker_config(fleet, out)
    acl = (out / "emqx" / "acl.conf").read_text()
    assert '{allow, all, publish, ["siaga/v1/${username}/#"]}.' in acl
    assert '{allow, {user, "central"}, subscribe, ["siaga/v1/#", "$share/+/siaga/v1/#"]}.' in acl
    assert acl.rstrip().endswith("{deny, all}.")
    assert "smg-07" not in acl
    fleet.revoke("smg-07")
    acl = (out / "emqx" / "acl.conf").read_text()
    deny = '{deny, {user, "smg-07"}, all, ["siaga/v1/#"]}.'
    assert acl.index(deny) < acl.index("{allow, all, publish")  # first match wins


def test_systemd_credentials_bundle(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.config import load_config

    b = fleet.provision("smg-08", site="P", kelurahan=KEL, auth="both")  # the default: systemd
    assert mode(b / "credentials") == 0o700 and mode(b / "credentials" / "mqtt-password") == 0o600
    text = (b / "agent.toml").read_text()
    assert "password_file" not in text and "LoadCredential" in (b / "INSTALL.txt").read_text()
    assert 'key_file = "/run/credentials/siaga-agent.service/mqtt-key"' in text
    assert 'cert_file = "/etc/siaga/client.pem"' in text
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(b / "credentials"))  # what systemd sets
    cfg = load_config(b / "agent.toml")
    password = (b / "credentials" / "mqtt-password").read_text().strip()
    assert cfg.mqtt.password is not None and cfg.mqtt.password.get_secret_value() == password


@pytest.mark.parametrize("via", ["file", "systemd"])
def test_camera_passwords_leave_agent_toml(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    b = fleet.provision("smg-cam", site="Pasar Johar", kelurahan=KEL, auth="password",
                        cameras=[("gate", "rtsp://admin:Gate%40Pw-9@10.0.0.5/s"),
                                 ("hall", "rtsp://10.0.0.6/s")],
                        out=tmp_path / "box", install_dir=tmp_path / "box",
                        secrets_via=via)  # type: ignore[arg-type]  # fmt: skip
    text = (b / "agent.toml").read_text()
    assert "Gate" not in text and "rtsp://admin@10.0.0.5/s" in text
    name = "credentials/camera-gate" if via == "systemd" else "camera-gate.password"
    assert (b / name).read_text() == "Gate@Pw-9\n" and mode(b / name) == 0o600
    note = (b / "INSTALL.txt").read_text()
    assert ("LoadCredential=camera-gate:/etc/siaga/credentials/camera-gate" in note) == (
        via == "systemd"
    )
    assert "camera-hall" not in note and not (b / "camera-hall.password").exists()
    from agent.config import load_config

    if via == "systemd":  # what LoadCredential= gives the service
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(b / "credentials"))
        (b / "credentials" / "mqtt-password").chmod(0o600)
    gate, hall = load_config(b / "agent.toml").cameras
    assert gate.open_source() == "rtsp://admin:Gate%40Pw-9@10.0.0.5/s"
    assert hall.open_source() == "rtsp://10.0.0.6/s"


def test_renew_keeps_the_id_and_remembers_the_old_serial(fleet: Fleet, tmp_path: Path) -> None:
    fleet.provision("smg-c", site="Pasar Johar", kelurahan=KEL, auth="cert",
                    out=tmp_path / "c", install_dir=tmp_path / "c")  # fmt: skip
    fleet.provision("smg-p", site="Pasar Johar", kelurahan=KEL, auth="password",
                    out=tmp_path / "p", install_dir=tmp_path / "p")  # fmt: skip
    first = fleet.load().agents["smg-c"].cert_serial
    b = fleet.renew("smg-c", out=tmp_path / "r", days=30)
    assert {p.name for p in b.iterdir()} == {"client.pem", "client.key", "INSTALL.txt"}
    assert mode(b / "client.key") == 0o600
    e = fleet.load().agents["smg-c"]
    assert e.cert_serial != first and e.old_cert_serials == [first]
    with pytest.raises(FleetError, match="password, not a certificate"):
        fleet.renew("smg-p", out=tmp_path / "x")
    with pytest.raises(FleetError, match="no agent 'nobody'"):
        fleet.renew("nobody", out=tmp_path / "y")
    fleet.revoke("smg-c")
    with pytest.raises(FleetError, match="revoked; provision a new box id"):
        fleet.renew("smg-c", out=tmp_path / "z")
