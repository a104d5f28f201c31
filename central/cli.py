"""`siaga central run`, `siaga central check-config` and `siaga central import`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from central import institution_cli
from central.cli_config import config_args, load, open_engine
from central.config import CentralConfig
from siaga.mqtt import check_tls_files
from siaga.settings import ConfigError, print_check

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add `siaga central …` to the command line."""
    p = sub.add_parser("central", help="the central collector, summaries and HTTP API")
    csub = p.add_subparsers(dest="central_command", metavar="ACTION", required=True)
    for name, func, text in (
        ("run", run_central, "run the collector, summaries and API until SIGTERM"),
        ("check-config", check_config, "validate config, area and camera files; run nothing"),
    ):
        a = csub.add_parser(name, help=text)
        config_args(a)
        a.set_defaults(func=func)
    _register_import(csub)
    institution_cli.register(csub)
    _register_report(csub)
    _register_opendata(csub)


def _register_report(csub: Any) -> None:
    a = csub.add_parser("report", help="(re)build the daily report of one day: JSON, CSV, HTML")
    a.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the report's day")
    a.add_argument("--out", type=Path, default=None,
                   help="output folder (default: report.output_dir)")  # fmt: skip
    config_args(a)
    a.set_defaults(func=report_cmd)


BuildDay = Callable[["Engine", CentralConfig, date, Path | None], dict[str, Path]]


def _build_day(
    args: argparse.Namespace, what: str, build: BuildDay
) -> tuple[int, CentralConfig | None, date | None]:
    """Parse --date, open the configured database, build one day's files and print their paths.

    Returns (exit code, config, day): 2 for bad arguments or config, 1 for failures, 0 when built.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from central.store.migrations import migrate

    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        print(f"siaga central: --date {args.date!r}: expected YYYY-MM-DD", file=sys.stderr)
        return 2, None, None
    cfg = load(args)
    if cfg is None:
        return 2, None, day
    engine = open_engine(cfg)
    if engine is None:
        return 2, cfg, day
    try:
        migrate(engine)
        paths = build(engine, cfg, day, args.out)
    except (SQLAlchemyError, OSError) as exc:
        print(f"siaga central: {what} {day}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1, cfg, day
    finally:
        engine.dispose()
    for p in paths.values():
        print(p)
    return 0, cfg, day


def report_cmd(args: argparse.Namespace) -> int:
    """Build and write one day's report; 2 for bad arguments or config, 1 for failures."""
    from central.report.run import make_report

    return _build_day(args, "report", make_report)[0]


def _register_opendata(csub: Any) -> None:
    a = csub.add_parser("opendata", help="(re)build one day's open data files (CSV, JSON)")
    a.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the day")
    a.add_argument("--out", type=Path, default=None,
                   help="output folder (default: opendata.output_dir)")  # fmt: skip
    a.add_argument("--publish", action="store_true",
                   help="also upsert the day into CKAN ([opendata.ckan] settings)")  # fmt: skip
    config_args(a)
    a.set_defaults(func=opendata_cmd)


def opendata_cmd(args: argparse.Namespace) -> int:
    """Write one day's open data (and publish it); 2 for bad arguments or config, 1 for failures."""
    from central.opendata.ckan import CkanError
    from central.opendata.run import make_opendata, publish_day

    rc, cfg, day = _build_day(args, "open data", make_opendata)
    if rc != 0 or not args.publish:
        return rc
    assert cfg is not None and day is not None  # built: both were read
    try:
        n = publish_day(cfg, day, args.out)
    except (CkanError, OSError) as exc:
        print(f"siaga central: open data {day}: {exc}", file=sys.stderr)
        return 1
    print(f"CKAN: {n} rows upserted into {cfg.opendata.ckan.dataset}", file=sys.stderr)
    return 0


def _register_import(csub: Any) -> None:
    from central.civic import MODULES

    modules = "; ".join(f"{m.name}: {m.help}" for m in MODULES.values())
    a = csub.add_parser(
        "import", help="import a civic data file (CSV or JSON): all rows valid, or nothing",
        description=f"Modules — {modules}.",
    )  # fmt: skip
    a.add_argument("module", choices=sorted(MODULES), metavar="MODULE",
                   help=f"one of: {', '.join(MODULES)}")  # fmt: skip
    a.add_argument("file", type=Path, metavar="FILE", help=".csv (header row) or .json (list)")
    config_args(a)
    a.set_defaults(func=import_civic)


def check_config(args: argparse.Namespace) -> int:
    """Validate the config, the area files and the camera registry without running anything."""
    from sqlalchemy.engine import make_url

    from central.areas import load_areas, load_cameras

    cfg = load(args)
    if cfg is None:
        return 2
    problems: list[str] = []
    try:
        make_url(cfg.storage.url)
    except Exception as exc:  # sqlalchemy raises ArgumentError and ValueError subclasses
        problems.append(f"storage.url: {exc}")
    try:
        areas = load_areas(cfg.areas)
        cameras = load_cameras(cfg.areas.cameras_file, areas)
        print(f"areas: {areas.kota_name}, {len(areas.kecamatan)} kecamatan, "
              f"{len(areas.kelurahan)} kelurahan; {len(cameras.cameras)} cameras registered",
              file=sys.stderr)  # fmt: skip
        for w in cameras.warnings:
            print(f"siaga central: warning: {w}", file=sys.stderr)
    except ConfigError as exc:
        problems.extend(str(exc).splitlines())
    try:
        check_tls_files(cfg.mqtt)  # CA, client certificate (and its expiry), key
    except ValueError as exc:
        problems.append(str(exc))
    revoked = cfg.fleet.revoked_file
    if revoked is not None and not revoked.is_file():
        problems.append(f"fleet.revoked_file: {revoked}: file not found")
    effective = json.dumps(cfg.model_dump(mode="json"), indent=2)
    return print_check("siaga central", effective, problems)


def run_central(args: argparse.Namespace) -> int:
    """Run the daemon; SIGTERM/SIGINT stop it cleanly."""
    from sqlalchemy.exc import SQLAlchemyError

    from central.service import CentralService

    if args.verbose == 0:
        logging.getLogger().setLevel(logging.INFO)  # a daemon's journal wants INFO by default
    cfg = load(args)
    if cfg is None:
        return 2
    try:
        service = CentralService(cfg)
    except ConfigError as exc:
        print(f"siaga central: cannot start: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, SQLAlchemyError) as exc:  # database, TLS files, API port
        print(f"siaga central: cannot start: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop())
    service.start()
    print(f"siaga central: API on {service.api_url or '(disabled)'}", flush=True)
    return service.run()


def import_civic(args: argparse.Namespace) -> int:
    """Validate a civic file against the area registry, then write it all in one transaction."""
    import getpass

    from sqlalchemy.exc import SQLAlchemyError

    from central.areas import load_areas
    from central.civic import MODULES
    from central.civic.common import AreaCodes
    from central.civic.importer import FileError, ImportRowsError, import_file
    from central.store.migrations import migrate

    cfg = load(args)
    if cfg is None:
        return 2
    module = MODULES[args.module]
    try:
        areas = load_areas(cfg.areas)
    except ConfigError as exc:
        print(f"siaga central: cannot check area codes: {exc}", file=sys.stderr)
        return 2
    codes = AreaCodes(kota=areas.kota_code, kelurahan=frozenset(areas.kelurahan))
    engine = open_engine(cfg)
    if engine is None:
        return 2
    try:
        migrate(engine)
        result = import_file(engine, module, args.file, codes, who=f"cli:{getpass.getuser()}")
    except FileError as exc:
        print(f"siaga central: {exc}", file=sys.stderr)
        return 2
    except ImportRowsError as exc:
        print(str(exc), file=sys.stderr)
        print(f"siaga central: {exc.total} problem(s) in {args.file}; nothing imported",
              file=sys.stderr)  # fmt: skip
        return 2
    except SQLAlchemyError as exc:
        print(f"siaga central: database: {str(exc).splitlines()[0]}; nothing imported",
              file=sys.stderr)  # fmt: skip
        return 1
    finally:
        engine.dispose()
    print(f"{module.name} (schema {module.schema_version}): {result.rows} rows: "
          f"{result.inserted} new, {result.updated} updated, {result.unchanged} unchanged"
          + (f", {result.stale} older than stored (skipped)" if result.stale else ""))  # fmt: skip
    return 0
