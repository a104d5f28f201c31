"""The `siaga` command: one entry point, subcommands registered by each package.

Each role installs only its own dependencies (`pip install siaga` is the edge box,
`siaga[central]` the central server), so the command line must not import a role's code at
start unless that role is installed. It does not know the roles at all: each declares its
command groups as entry points of the group `siaga.commands` (pyproject.toml), every one a
`Group` saying where its `register(sub)` is and which extra it needs. The declarations live in
light modules (`central/commands.py` imports nothing of central's dependencies), so a group whose
extra is missing is still shown, and running it says in one line which extra to install instead
of dying on an ImportError inside central code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from siaga import __version__
from siaga.extras import missing_for
from siaga.logs import setup_logging

ENTRY_POINTS = "siaga.commands"


@dataclass(frozen=True, slots=True)
class Group:
    """Subcommands one module registers (`register(sub)`), and the extra they need."""

    module: str
    extra: str | None = None
    # Name → help of each subcommand, shown when the extra is missing and the module is not
    # imported (for groups of the base install the module itself says).
    commands: tuple[tuple[str, str], ...] = ()


def groups() -> list[Group]:
    """The command groups installed, by entry point name (`siaga --help` lists them so)."""
    out = []
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINTS), key=lambda e: e.name):
        group = ep.load()
        if not isinstance(group, Group):
            raise TypeError(f"entry point {ep.name} = {ep.value!r} of {ENTRY_POINTS}: "
                            f"not a siaga.cli.Group")  # fmt: skip
        out.append(group)
    return out


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that takes -v/--verbose at every level of subcommand.

    `add_subparsers` builds its parsers with the class of its parent, so every subcommand parser
    is one of these: `siaga agent check-config -v` works as well as `siaga -v agent check-config`.
    Below the top the default is SUPPRESS, so a subcommand without -v keeps the top level's count.
    """

    def __init__(self, *args: Any, verbose_default: Any = argparse.SUPPRESS, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.add_argument("-v", "--verbose", action="count", default=verbose_default,
                          help="more log output (-vv: debug)")  # fmt: skip


def build_parser(found: Sequence[Group] | None = None) -> argparse.ArgumentParser:
    """The full argument parser with every subcommand (stand-ins where an extra is missing)."""
    parser = Parser(
        prog="siaga",
        description="Siaga: face-mask counting at the edge, city data at the centre.",
        verbose_default=0,
    )
    parser.add_argument("--version", action="version", version=f"siaga {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in groups() if found is None else found:
        if group.extra and missing_for(group.extra):
            _register_missing(sub, group)
        else:
            importlib.import_module(group.module).register(sub)
    return parser


def _hint(group: Group, missing: list[str]) -> str:
    return (f"needs the '{group.extra}' extra (missing: {', '.join(missing)}); install it with "
            f"pip install 'siaga[{group.extra}]'")  # fmt: skip


def _register_missing(sub: Any, group: Group) -> None:
    """Stand-ins listed in `siaga --help`; running one is refused in `main` before parsing."""
    for name, text in group.commands:
        sub.add_parser(name, help=f"{text} [needs siaga[{group.extra}]]", add_help=False)


def refusal(argv: Sequence[str], found: Sequence[Group] | None = None) -> str | None:
    """The one-line refusal for a subcommand whose extra is missing, else None."""
    words = [a for a in argv if not a.startswith("-")]
    if not words:
        return None
    for group in groups() if found is None else found:
        if group.extra and words[0] in dict(group.commands):
            missing = missing_for(group.extra)
            if missing:
                return f"siaga {words[0]}: {_hint(group, missing)}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    found = groups()
    if not found:
        print(f"siaga: no commands installed (no {ENTRY_POINTS} entry points); install the "
              "package, e.g. pip install -e .", file=sys.stderr)  # fmt: skip
        return 2
    refused = refusal(argv, found)
    if refused is not None:
        print(refused, file=sys.stderr)
        return 2
    parser = build_parser(found)
    args = parser.parse_args(argv)
    # journald gets `<N>`-prefixed lines without timestamps; a terminal gets timestamps.
    setup_logging(logging.DEBUG if args.verbose > 1 else logging.INFO if args.verbose
                  else logging.WARNING)  # fmt: skip
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
