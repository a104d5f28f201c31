"""The `siaga` command line: -v at any level, and the extras each command group needs."""

from __future__ import annotations

import pytest

from siaga import extras
from siaga.cli import GROUPS, build_parser, refusal


@pytest.mark.parametrize(("argv", "verbose"), [
    (["agent", "check-config"], 0),
    (["agent", "check-config", "-v"], 1),
    (["-v", "agent", "check-config"], 1),
    (["agent", "check-config", "-vv"], 2),
    (["calibrate", "check", "f.json", "--verbose"], 1),
    (["models", "-v"], 1),
])  # fmt: skip
def test_verbose_is_taken_before_or_after_the_subcommand(argv: list[str], verbose: int) -> None:
    assert build_parser().parse_args(argv).verbose == verbose


def test_requirement_lines_are_read_from_the_installed_metadata() -> None:
    base, central = extras.requirements(None), extras.requirements("central")
    if base is None or central is None:
        pytest.skip("siaga is not installed (running from a bare source tree)")
    names = {extras.requirement_name(r) for r in base}
    assert {"onnxruntime", "opencv-python-headless", "paho-mqtt", "pydantic"} <= names
    assert "sqlalchemy" not in names and "torch" not in names
    assert {"sqlalchemy", "fastapi", "psycopg"} <= {extras.requirement_name(r) for r in central}
    assert extras.missing_for("central") == []  # the dev venv has every extra
    assert refusal(["central", "run"]) is None


@pytest.mark.parametrize(("spec", "name"), [
    ("psycopg[binary]>=3.1", "psycopg"),
    ("pydantic_settings>=2.2", "pydantic-settings"),
    ("Opencv-Python-Headless >=4.9", "opencv-python-headless"),
    ("onnxruntime", "onnxruntime"),
])  # fmt: skip
def test_requirement_name(spec: str, name: str) -> None:
    assert extras.requirement_name(spec) == name


def test_every_extra_group_names_its_commands() -> None:
    # A group of an extra is shown (and refused) by name without being imported.
    for group in GROUPS:
        assert (group.extra is None) == (not group.commands), group
        if group.extra:
            assert extras.requirements(group.extra) != [], group.extra
