"""Camera passwords: kept out of agent.toml, put into the URL only when opening, never shown."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.config import CameraSection, redacted
from agent.source import VideoSource
from siaga.settings import ConfigError
from tests.agent.test_service import REPO, SIAGA
from tests.agent.test_source import FakeCapture

URL = "rtsp://admin@10.0.0.5:554/Streaming/Channels/101"


def private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_password_file_goes_into_the_url_at_open_time(tmp_path: Path) -> None:
    pw = private(tmp_path / "cam1.password", "first\n")
    cam = CameraSection(id="cam1", source=URL, password_file=pw)
    assert cam.open_source() == "rtsp://admin:first@10.0.0.5:554/Streaming/Channels/101"
    private(pw, "second\n")  # changed on the box: the next (re)connect uses it
    assert cam.open_source().startswith("rtsp://admin:second@")
    assert "second" not in cam.model_dump_json()  # the config itself never holds it


def test_systemd_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "camera-gate").write_text("from-systemd\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert (
        CameraSection(id="gate", source=URL).open_source().startswith("rtsp://admin:from-systemd@")
    )
    # A URL without a user name, or one with its own password, is left alone.
    assert CameraSection(id="gate", source="rtsp://10.0.0.5/s").open_source() == "rtsp://10.0.0.5/s"
    inline = "rtsp://admin:inline@10.0.0.5/s"
    assert CameraSection(id="gate", source=inline).open_source() == inline
    (creds / "camera-gate").write_bytes(b"\xff\xfe")  # unreadable: a clear error, no crash
    with pytest.raises(ConfigError, match="systemd credential camera-gate: cannot read"):
        CameraSection(id="gate", source=URL).open_source()


def test_bad_password_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="password_file needs a source URL with a user name"):
        CameraSection(id="c", source="rtsp://admin:inline@h/s", password_file=tmp_path / "x")
    cam = CameraSection(id="c", source=URL, password_file=tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"cameras.c.password_file: .*file not found"):
        cam.open_source()
    open_to_all = private(tmp_path / "pw", "x\n", mode=0o644)
    cam = CameraSection(id="c", source=URL, password_file=open_to_all)
    with pytest.raises(ConfigError, match=r"any user of this machine can read .*mode 0644"):
        cam.open_source()


def test_source_opens_with_the_password_and_logs_without_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    opened: list[str] = []

    def opener(url: str, **_kw: Any) -> FakeCapture:
        opened.append(url)
        return FakeCapture([], opened=False)  # an unreachable camera

    cam = CameraSection(id="c", source=URL, password_file=private(tmp_path / "pw", "Zz9!\n"))
    src = VideoSource(cam, opener=opener)
    caplog.set_level("DEBUG")
    assert src._open() is None
    assert opened == ["rtsp://admin:Zz9%21@10.0.0.5:554/Streaming/Channels/101"]
    assert "Zz9" not in caplog.text and "cannot open rtsp://***@10.0.0.5" in caplog.text
    (tmp_path / "pw").unlink()  # a missing file: logged, not opened, retried later
    assert src._open() is None and len(opened) == 1
    assert "password_file" in caplog.text


def test_check_config_never_prints_camera_passwords(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f"""
[agent]
id = "box-test"
site = "Test site"
kelurahan_code = "33.74.01.1001"
[[cameras]]
id = "inline"
source = "rtsp://admin:Inline-Secret-7@10.0.0.5/s"
[[cameras]]
id = "filed"
source = "{URL}"
password_file = "{private(tmp_path / 'pw', 'Filed-Secret-8')}"
[outbox]
path = "{tmp_path / 'outbox.sqlite3'}"
""")  # fmt: skip
    cfg.chmod(0o644)
    out = subprocess.run([*SIAGA, "agent", "check-config", "--config", str(cfg)],
                         cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Inline-Secret-7" not in out.stdout + out.stderr
    assert "Filed-Secret-8" not in out.stdout + out.stderr
    assert "cameras.inline.source holds a password" in out.stderr  # a warning, not a failure
    assert "cameras.filed" not in out.stderr
    (tmp_path / "pw").chmod(0o644)
    out = subprocess.run([*SIAGA, "agent", "check-config", "--config", str(cfg)],
                         cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 2 and "cameras.filed.password_file" in out.stderr


def test_redacted_config_hides_camera_credentials(tmp_path: Path) -> None:
    from agent.config import load_config

    cfg = tmp_path / "agent.toml"
    cfg.write_text(
        '[agent]\nid = "b"\nsite = "s"\nkelurahan_code = "33.74.01.1001"\n'
        '[[cameras]]\nid = "c"\nsource = "rtsp://u:Hidden-1@h/s"\n'
    )
    data = redacted(load_config(cfg))
    assert data["cameras"][0]["source"] == "rtsp://***@h/s"
