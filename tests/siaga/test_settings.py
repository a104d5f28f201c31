"""Config errors point at the cause: 'did you mean' for a mistyped key, and the environment
variable (not the file) for a bad override, in the agent's and central's config alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import AgentConfig
from agent.config import load_config as load_agent
from central.config import load_config as load_central
from siaga.settings import ConfigError
from siaga.settings_errors import EnvOverrides

AGENT = """
[agent]
id = "box-01"
site = "Pasar Johar"
kelurahan_code = "33.74.03.1006"

[[cameras]]
id = "cam1"
source = "rtsp://10.0.0.5/stream"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No override from the shell running the tests leaks in."""
    import os

    for name in list(os.environ):
        if name.upper().startswith(("SIAGA_AGENT__", "SIAGA_CENTRAL__")):
            monkeypatch.delenv(name)


def agent_error(tmp_path: Path, text: str) -> str:
    f = tmp_path / "agent.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_agent(f)
    return str(info.value)


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        ("detect_fsp = 3\n", "cameras.0.detect_fsp: Extra inputs are not permitted; "
                             "did you mean 'detect_fps'?"),
        ("min_face = 3\n", "did you mean 'min_face_px'?"),
        ("[samplng]\ndetect_fps = 3\n", "samplng: Extra inputs are not permitted; "
                                        "did you mean 'sampling'?"),
        ("[mqtt]\nhots = 'x'\n", "mqtt.hots: Extra inputs are not permitted; did you mean 'host'?"),
        ("[tracker]\nzzz = 1\n", "tracker.zzz: Extra inputs are not permitted; valid keys here: "
                                 "iou_threshold, max_age_s, min_hits"),
    ],
)  # fmt: skip
def test_unknown_key_suggests_the_nearest(tmp_path: Path, extra: str, line: str) -> None:
    message = agent_error(tmp_path, AGENT + extra)
    assert message == f"{tmp_path / 'agent.toml'}: {line}" or line in message
    assert message.startswith(str(tmp_path / "agent.toml"))


def test_central_gets_the_same_suggestions(tmp_path: Path) -> None:
    f = tmp_path / "central.toml"
    f.write_text("[storage]\nulr = 'sqlite:///x.sqlite3'\n")
    with pytest.raises(ConfigError, match=r"storage\.ulr: .*did you mean 'url'\?"):
        load_central(f)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SIAGA_AGENT__SAMPLING__DETECT_FPS": "abc"},
         "environment SIAGA_AGENT__SAMPLING__DETECT_FPS='abc': sampling.detect_fps: "
         "Input should be a valid number"),
        ({"SIAGA_AGENT__MQTT__PORT": "0"},
         "environment SIAGA_AGENT__MQTT__PORT='0': mqtt.port: Input should be greater than or "
         "equal to 1"),
        ({"SIAGA_AGENT__SAMPLING__DETECT_FSP": "3"},
         "environment SIAGA_AGENT__SAMPLING__DETECT_FSP (value not shown): sampling.detect_fsp: "
         "Extra inputs are not permitted; did you mean 'detect_fps'?"),
        ({"SIAGA_AGENT__SAMPLNG__DETECT_FPS": "3"},  # pydantic-settings alone would ignore it
         "environment SIAGA_AGENT__SAMPLNG__DETECT_FPS (value not shown): samplng.detect_fps: "
         "unknown key; did you mean 'sampling'?"),
        ({"SIAGA_AGENT__CAMERAS": '[{"id": "x"}]'},
         "environment SIAGA_AGENT__CAMERAS (value not shown): cameras.0.source: Field required"),
        ({"SIAGA_AGENT__CAMERAS": "[{not json"},
         "environment SIAGA_AGENT__CAMERAS (value not shown): cameras: not valid JSON"),
        ({"SIAGA_AGENT__CAMERAS__0__DETECT_FPS": "2"},
         "environment SIAGA_AGENT__CAMERAS__0__DETECT_FPS='2': cameras: Input should be a valid "
         "list; a list is set whole, as JSON in one variable"),
    ],
)  # fmt: skip
def test_bad_override_blames_the_variable_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    message = agent_error(tmp_path, AGENT + "[sampling]\ndetect_fps = 5\n[mqtt]\nport = 1883\n")
    assert expected in message
    assert str(tmp_path) not in message  # the file holds nothing wrong


def test_file_still_blamed_for_its_own_values(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIAGA_AGENT__MQTT__HOST", "broker.example")
    message = agent_error(tmp_path, AGENT + "[sampling]\ndetect_fps = 'abc'\n")
    assert message.startswith(f"{tmp_path / 'agent.toml'}: sampling.detect_fps: ")
    # A section checked as a whole names the file and the overrides that went into it.
    message = agent_error(tmp_path, AGENT + "[mqtt]\ntls = false\n")
    assert message.startswith(f"{tmp_path / 'agent.toml'} (with environment overrides "
                              "SIAGA_AGENT__MQTT__HOST): mqtt: ")  # fmt: skip


def test_central_override_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIAGA_CENTRAL__API__PORT", "http")
    with pytest.raises(ConfigError) as info:
        load_central(None)
    assert str(info.value).startswith("environment SIAGA_CENTRAL__API__PORT='http': api.port: ")


def test_secrets_and_structured_values_are_never_echoed(monkeypatch) -> None:
    monkeypatch.setenv("SIAGA_AGENT__MQTT__PASSWORD", "pw-123")
    monkeypatch.setenv("SIAGA_AGENT__MQTT__PASSWRD", "pw-456")  # a typo: unknown, still secret
    monkeypatch.setenv("SIAGA_AGENT__CAMERAS", '[{"source": "rtsp://u:pw-789@h/"}]')
    env = EnvOverrides(AgentConfig)
    shown = [env.shown(p) for p in env.variables]
    assert shown and not any("pw-" in s for s in shown)
    assert all(s.endswith("(value not shown)") for s in shown)
