"""Fleet security pieces without a broker: Mosquitto password hashes, the ACL text, the
revoked-agent check, the TLS-by-default rule of [mqtt], plain-words errors, check-config."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from central.fleet.acl import render_acl, render_web_acl
from central.fleet.passwd import (
    hash_password,
    render_password_file,
    verify_password,
    write_password_file,
)
from central.fleet.provision import Fleet
from central.ingest.revoked import RevokedAgents
from central.ingest.validate import REASONS, check
from siaga.cli import main
from siaga.mqtt import check_tls_files, describe_error, describe_refusal, describe_tls_text
from siaga.settings import BrokerSection, ConfigError, load_settings
from siaga.wire import counts_topic
from tests.mqtt_broker import mosquitto_passwd_binary

KEL = "33.74.16.1004"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- password file ----


@pytest.mark.skipif(mosquitto_passwd_binary() is None, reason="mosquitto_passwd not installed")
def test_hash_is_byte_identical_to_mosquitto_passwd(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    tool = mosquitto_passwd_binary()
    assert tool is not None
    subprocess.run([tool, "-b", "-c", str(f), "alice", "s3cr3t ü"], check=True, timeout=10)
    user, theirs = f.read_text().strip().split(":", 1)
    salt_b64 = theirs.split("$")[3]
    import base64

    assert user == "alice"
    assert hash_password("s3cr3t ü", salt=base64.b64decode(salt_b64)) == theirs
    assert verify_password("s3cr3t ü", theirs) and not verify_password("s3cr3t", theirs)


def test_password_file_atomic_0600_hashes_only(tmp_path: Path) -> None:
    pre = hash_password("kept")
    path = write_password_file(tmp_path / "sub" / "passwd", {"box-b": "clear-one", "box-a": pre})
    assert mode(path) == 0o600
    lines = path.read_text().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["box-a", "box-b"]
    assert lines[0] == f"box-a:{pre}"  # a hash is kept as is
    assert "clear-one" not in path.read_text() and verify_password("clear-one", lines[1][6:])
    assert not list(path.parent.glob(".*tmp"))
    for bad in ({"a:b": "x"}, {"a b": "x"}, {"#x": "y"}, {"a": ""}, {"a": "x\ny"}):
        with pytest.raises(ValueError):
            render_password_file(bad)


def test_acl_confines_agents_and_services() -> None:
    text = render_acl({"central": "central", "dash": "dashboard", "ops": "admin"},
                      revoked=["box-9"])  # fmt: skip
    lines = text.splitlines()
    assert "pattern write siaga/v1/%u/#" in lines
    assert "pattern read siaga/v1/%u/ack" in lines  # central's confirmations, and nothing else
    block = lines[lines.index("user central") + 1 : lines.index("user central") + 6]
    assert block == ["topic read siaga/v1/#", "topic write siaga/v1/summary/#",
                     "topic write siaga/v1/alerts", "topic write siaga/v1/+/ack",
                     "topic deny siaga/v1/central/#"]  # fmt: skip
    assert "user dash" not in lines  # web roles: only in the WebSocket listener's ACL
    web = render_web_acl({"central": "central", "dash": "dashboard", "pub": "public"})
    wl = web.splitlines()
    assert wl[wl.index("user dash") + 1 : wl.index("user dash") + 5] == [
        "topic read siaga/v1/summary/#", "topic read siaga/v1/alerts",
        "topic read siaga/v1/+/availability", "topic read siaga/v1/bridge/+/state"]  # fmt: skip
    assert wl[wl.index("user pub") + 1 : wl.index("user pub") + 4] == [
        "topic read siaga/v1/summary/city", "topic read siaga/v1/summary/kecamatan/+",
        "topic read siaga/v1/summary/kelurahan/+"]  # fmt: skip
    assert "user central" not in wl and not any(ln.startswith("pattern") for ln in wl)
    assert not any(" write " in ln or "readwrite" in ln for ln in wl)
    assert lines[lines.index("user box-9") + 1] == "topic deny siaga/v1/#"
    assert "topic readwrite siaga/v1/#" in lines
    # Nothing before the first `user` line grants anonymous clients anything.
    assert not any(ln.startswith("topic") for ln in lines[: lines.index("user central")])
    with pytest.raises(ValueError):
        render_acl({"x": "central"}, prefix="siaga/#")


# ---- central: revoked agents ----


def test_revoked_agent_is_a_reject_reason() -> None:
    from tests.central.ingest.test_ingest import counts_message

    msg = counts_message("box-r", 1)
    topic = counts_topic("box-r", "cam1")
    assert "revoked_agent" in REASONS
    ok = check(topic, msg.to_payload(), prefix="siaga/v1", max_payload_bytes=4096)
    assert ok.counts == msg
    out = check(topic, msg.to_payload(), prefix="siaga/v1", max_payload_bytes=4096,
                revoked=frozenset({"box-r"}))  # fmt: skip
    assert (out.reason, out.counts) == ("revoked_agent", None)
    avail = check("siaga/v1/box-r/availability", b"online", prefix="siaga/v1",
                  max_payload_bytes=4096, revoked={"box-r"})  # fmt: skip
    assert avail.reason == "revoked_agent"


def test_revoked_list_reloads_when_the_file_changes(tmp_path: Path) -> None:
    f = tmp_path / "revoked.txt"
    assert RevokedAgents(None).current() == frozenset()
    missing = RevokedAgents(f, check_every_s=0)
    assert missing.current() == frozenset()
    f.write_text("# comment\nbox-1\n\n  box-2  # stolen\nnot an id\n")
    assert missing.current() == {"box-1", "box-2"}
    r = RevokedAgents(f, check_every_s=0.05)
    assert r.current() == {"box-1", "box-2"}
    f.write_text("box-1\nbox-3\n")
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    time.sleep(0.06)
    assert r.current() == {"box-1", "box-3"}
    f.unlink()  # a vanished file keeps the last list: revoked agents stay out
    time.sleep(0.06)
    assert r.current() == {"box-1", "box-3"}


# ---- [mqtt]: TLS by default, plain-words errors ----


def test_plaintext_to_a_remote_broker_needs_an_explicit_opt_out(tmp_path: Path) -> None:
    assert BrokerSection(host="broker.city").tls_enabled
    assert not BrokerSection(host="127.0.0.1").tls_enabled
    assert not BrokerSection(host="localhost", tls=False).tls_enabled
    with pytest.raises(ValidationError, match="insecure_plaintext = true"):
        BrokerSection(host="broker.city", tls=False)
    assert not BrokerSection(host="10.0.0.2", tls=False, insecure_plaintext=True).tls_enabled
    with pytest.raises(ValidationError, match="not both"):
        BrokerSection(password=SecretStr("x"), password_file=tmp_path / "pw")
    from central.config import CentralConfig

    toml = tmp_path / "central.toml"
    toml.write_text('[mqtt]\nhost = "mqtt.city"\ntls = false\n')
    with pytest.raises(ConfigError, match=r"mqtt: .*insecure_plaintext"):
        load_settings(CentralConfig, toml)


def test_password_file_is_read_and_checked(tmp_path: Path) -> None:
    from central.config import CentralConfig

    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    pw.chmod(0o644)
    toml = tmp_path / "central.toml"
    toml.write_text(f'[mqtt]\nusername = "central"\npassword_file = "{pw}"\n')
    with pytest.raises(ConfigError, match=r"password_file: .*any user of this machine can read"
                                          r".*mode 0644.*chmod 600"):  # fmt: skip
        load_settings(CentralConfig, toml)
    pw.chmod(0o640)  # shared with the service's group: accepted
    toml.write_text(f'[mqtt]\nusername = "central"\npassword_file = "{pw}"\n')
    cfg = load_settings(CentralConfig, toml)
    assert cfg.mqtt.password is not None and cfg.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(cfg) and "s3cret" not in str(cfg.model_dump())
    direct = BrokerSection(username="central", password_file=pw)  # built without a file too
    assert direct.password is not None and direct.password.get_secret_value() == "s3cret"
    pw.write_text("")
    with pytest.raises(ConfigError, match=r"mqtt: .*password_file: .*the file is empty"):
        load_settings(CentralConfig, toml)
    pw.unlink()
    with pytest.raises(ConfigError, match=r"mqtt: .*password_file: .*file not found"):
        load_settings(CentralConfig, toml)


def test_tls_files_are_checked_before_connecting(fleet: Fleet, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ValueError, match=r"mqtt.ca_file: .*not a PEM CA"):
        check_tls_files(BrokerSection(host="mqtt.city", ca_file=bad))
    now = datetime.now(UTC)
    old = fleet.authority().client_cert("box-x", not_before=now - timedelta(days=10),
                                        not_after=now - timedelta(days=1))  # fmt: skip
    crt, key = tmp_path / "c.pem", tmp_path / "c.key"
    crt.write_bytes(old.cert_pem)
    key.write_bytes(old.key_pem)
    key.chmod(0o604)
    with pytest.raises(ValueError, match=r"mqtt.key_file: .*any user of this machine can read"):
        check_tls_files(BrokerSection(host="mqtt.city", cert_file=crt, key_file=key))
    key.chmod(0o600)
    with pytest.raises(ValueError, match="client certificate expired on"):
        check_tls_files(BrokerSection(host="mqtt.city", ca_file=fleet.ca_cert, cert_file=crt,
                                      key_file=key))  # fmt: skip
    other = fleet.authority().client_cert("box-y")
    key.write_bytes(other.key_pem)  # a key that is not the certificate's
    with pytest.raises(ValueError, match="matching private key"):
        check_tls_files(BrokerSection(host="mqtt.city", cert_file=crt, key_file=key))


def test_errors_in_plain_words() -> None:
    e = ssl.SSLCertVerificationError(1, "certificate verify failed")
    e.verify_code, e.verify_message = 20, "unable to get local issuer certificate"
    assert "wrong CA" in describe_error(e) and "certificate verify failed" in describe_error(e)
    e.verify_code, e.verify_message = 10, "certificate has expired"
    assert "broker's certificate has expired" in describe_error(e)
    text = "[SSL: SSLV3_ALERT_CERTIFICATE_EXPIRED] sslv3 alert certificate expired (_ssl.c:2580)"
    assert "client's certificate: it has expired" in (describe_tls_text(text) or "")
    assert describe_tls_text("connection reset") is None
    assert "nothing accepts connections" in describe_error(ConnectionRefusedError(111, "x"))

    class Code:
        value = 134

        def __str__(self) -> str:
            return "Bad user name or password"

    said = describe_refusal(Code(), "box-1")
    assert said.startswith("Bad user name or password") and "'box-1'" in said
    assert "revoked" in said


def test_central_check_config_names_tls_and_fleet_problems(
    fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = tmp_path / "central.toml"
    toml.write_text('[mqtt]\nhost = "mqtt.city"\ntls = false\n')
    assert main(["central", "check-config", "--config", str(toml)]) == 2
    assert "set insecure_plaintext = true" in capsys.readouterr().err
    now = datetime.now(UTC)
    old = fleet.authority().client_cert("central", not_before=now - timedelta(days=3),
                                        not_after=now - timedelta(days=2))  # fmt: skip
    (tmp_path / "c.pem").write_bytes(old.cert_pem)
    (tmp_path / "c.key").write_bytes(old.key_pem)
    (tmp_path / "c.key").chmod(0o600)
    toml.write_text(
        f'[mqtt]\nhost = "mqtt.city"\nca_file = "{fleet.ca_cert}"\n'
        f'cert_file = "{tmp_path / "c.pem"}"\nkey_file = "{tmp_path / "c.key"}"\n'
        f'[fleet]\nrevoked_file = "{tmp_path / "nowhere.txt"}"\n'
    )
    assert main(["central", "check-config", "--config", str(toml)]) == 2
    err = capsys.readouterr().err
    assert "problem: mqtt.cert_file: " in err and "client certificate expired on" in err
    assert "problem: fleet.revoked_file: " in err
