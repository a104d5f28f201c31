"""Agent config: one clear error per bad file (file, key path, reason); env overrides; defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import load_config, redacted
from siaga.settings import ConfigError

BASE = """
[agent]
id = "box-01"
site = "Pasar Johar"
kelurahan_code = "33.74.03.1006"

[[cameras]]
id = "cam1"
source = "rtsp://10.0.0.5/stream"
"""


def write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "agent.toml"
    f.write_text(text)
    return f


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[agent]\nid = 1", "agent.id", "valid string"),
        (BASE.replace('id = "box-01"', 'id = "box/01"'), "agent.id", "should match pattern"),
        (BASE.replace("33.74.03.1006", "3374"), "agent.kelurahan_code", "should match pattern"),
        (BASE.split("[[cameras]]")[0], "cameras", "Field required"),
        (BASE + "[[cameras]]\nid = \"cam1\"\nsource = \"x.mp4\"\n", "(top level)",
         "camera ids must be unique; repeated: cam1"),
        (BASE + "colour = 'red'\n", "cameras.0.colour", "Extra inputs are not permitted"),
        (BASE + "include_zones = [[[0.1, 0.1], [0.2, 0.2]]]\n", "cameras.0",
         "at least 3 points"),
        (BASE + "include_zones = [[[0.1, 0.1], [1.2, 0.2], [0.1, 0.9]]]\n", "cameras.0",
         "normalised"),
        (BASE + "min_face_px = 50\nmax_face_px = 20\n", "cameras.0", "min_face_px cannot exceed"),
        (BASE + "[counting]\nwindow_s = 7\n", "counting", "must divide a day"),
        (BASE + "[counting]\nwindow_s = 2\n", "counting.window_s", "greater than or equal to 5"),
        (BASE + "[mqtt]\nport = 70000\n", "mqtt.port", "less than or equal to 65535"),
        (BASE + "[sampling]\ndetect_fps = 0\n", "sampling.detect_fps", "greater than 0"),
        (BASE + "[outbox]\nmax_messages = 1\n", "outbox.max_messages", "greater than or equal"),
        (BASE + "[bogus]\nx = 1\n", "bogus", "Extra inputs are not permitted"),
        (BASE + "[mqtt]\nhost = \n", "", "not valid TOML"),
    ],
)  # fmt: skip
def test_bad_config_gives_one_clear_error(tmp_path: Path, text: str, key: str, reason: str):
    f = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    message = str(info.value)
    assert str(f) in message
    assert reason in message
    assert f": {key}: " in message or not key


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.toml")


def test_environment_overrides_file_and_secret_is_hidden(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SIAGA_AGENT__MQTT__HOST", "broker.example")
    monkeypatch.setenv("SIAGA_AGENT__MQTT__PASSWORD", "pw-123")
    monkeypatch.setenv("SIAGA_AGENT__SAMPLING__DETECT_FPS", "2.5")
    cfg = load_config(write(tmp_path, BASE + '[mqtt]\nhost = "127.0.0.1"\n'))
    assert cfg.mqtt.host == "broker.example" and cfg.sampling.detect_fps == 2.5
    assert cfg.mqtt.tls_enabled  # not loopback: TLS by default
    assert cfg.mqtt.password is not None and cfg.mqtt.password.get_secret_value() == "pw-123"
    assert "pw-123" not in str(redacted(cfg)) and "pw-123" not in repr(cfg)


def test_password_from_systemd_credentials(tmp_path: Path, monkeypatch):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt-password").write_text("from-credential\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.delenv("SIAGA_AGENT__MQTT__PASSWORD", raising=False)
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.mqtt.password is not None
    assert cfg.mqtt.password.get_secret_value() == "from-credential"


def test_defaults_and_example_config_is_valid():
    cfg = load_config(Path(__file__).resolve().parents[2] / "agent" / "agent.example.toml")
    assert cfg.counting.window_s == 60 and cfg.mqtt.topic_prefix == "siaga/v1"
    assert not cfg.mqtt.tls_enabled  # loopback broker
    assert not cfg.debug.save_frames


def test_min_face_px_default_is_the_measured_limit(tmp_path: Path):
    """The default agrees with the size study (faces under 16 px are unreliable), and so does
    the example config a technician copies."""
    from calibration.report import UNRELIABLE_FACE_PX

    assert load_config(write(tmp_path, BASE)).cameras[0].min_face_px == UNRELIABLE_FACE_PX == 16
    example = load_config(Path(__file__).resolve().parents[2] / "agent" / "agent.example.toml")
    assert example.cameras[0].min_face_px == UNRELIABLE_FACE_PX


def test_mistyped_key_suggests_the_right_one(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"cameras\.0\.detect_fsp: .*did you mean 'detect_fps'"):
        load_config(write(tmp_path, BASE + "detect_fsp = 3\n"))


def test_bad_environment_override_names_the_variable(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SIAGA_AGENT__SAMPLING__DETECT_FPS", "abc")
    f = write(tmp_path, BASE)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    message = str(info.value)
    assert message.startswith("environment SIAGA_AGENT__SAMPLING__DETECT_FPS='abc': "
                              "sampling.detect_fps: Input should be a valid number")  # fmt: skip
    assert str(f) not in message
