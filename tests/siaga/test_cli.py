"""The `siaga` command line: -v at any level, and the extras each command group needs."""

from __future__ import annotations

import argparse
import sys

import pytest

from siaga import cli, extras
from siaga.cli import build_parser, groups, refusal


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
    for group in groups():
        assert (group.extra is None) == (not group.commands), group
        if group.extra:
            assert extras.requirements(group.extra) != [], group.extra


def test_the_roles_commands_are_found_through_entry_points() -> None:
    found = groups()
    if not found:
        pytest.skip("siaga is not installed (running from a bare source tree)")
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    names = set(sub.choices)
    for name in ("detect", "eval", "models", "agent", "calibrate", "central", "simulate",
                 "fleet", "demo"):  # fmt: skip
        assert name in names, sorted(names)


def test_a_group_names_the_commands_it_registers() -> None:
    # The stand-ins shown where the extra is missing are the commands the module adds.
    for group in groups():
        if not group.extra:
            continue
        sub = argparse.ArgumentParser().add_subparsers()
        __import__(group.module)
        sys.modules[group.module].register(sub)
        assert sorted(sub.choices) == sorted(n for n, _ in group.commands), group


def test_a_missing_extra_is_listed_and_refused_without_importing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "missing_for", lambda extra: ["sqlalchemy"])
    for name in ("central.cli", "central.sim.cli", "central.fleet.cli", "demo.run"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    parser = build_parser()
    assert "needs siaga[central]" in parser.format_help()
    assert refusal(["-v", "demo"]) == (
        "siaga demo: needs the 'central' extra (missing: sqlalchemy); install it with "
        "pip install 'siaga[central]'"
    )
    assert refusal(["fleet", "list"]) is not None and refusal(["agent", "run"]) is None
    assert not {"central.cli", "demo.run"} & set(sys.modules)
