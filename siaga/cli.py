"""The `siaga` command: one entry point, subcommands registered by each package."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from agent import cli as agent_cli
from calibration import cli as calibration_cli
from central import cli as central_cli
from central import simulate
from central.fleet import cli as fleet_cli
from models import commands as model_commands
from siaga import __version__, demo


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="siaga", description="Siaga: face-mask counting at the edge, city data at the centre."
    )
    parser.add_argument("--version", action="version", version=f"siaga {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    model_commands.register(sub)
    agent_cli.register(sub)
    calibration_cli.register(sub)
    central_cli.register(sub)
    simulate.register(sub)
    fleet_cli.register(sub)
    demo.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG
        if args.verbose > 1
        else logging.INFO
        if args.verbose
        else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
