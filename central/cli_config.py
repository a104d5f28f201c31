"""What every `siaga central` action shares: the --config/--db options, loading the effective
configuration and opening its database. Its own module so that the action modules (central/cli.py,
central/institution_cli.py) import it and not each other."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from central.config import DEFAULT_CONFIG_PATH, CentralConfig, load_config
from siaga.settings import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)


def config_args(a: argparse.ArgumentParser) -> None:
    """--config and --db, as every `siaga central` action takes them."""
    a.add_argument("--config", type=Path, default=None,
                   help="TOML file (default: $SIAGA_CENTRAL_CONFIG, else "
                   f"{DEFAULT_CONFIG_PATH} when present, else embedded defaults)")  # fmt: skip
    a.add_argument("--db", default=None,
                   help="SQLite file path or database URL (overrides storage.url)")  # fmt: skip



def config_path(arg: Path | None) -> Path | None:
    """--config, else $SIAGA_CENTRAL_CONFIG, else the system file when it exists, else None."""
    if arg is not None:
        return arg
    env = os.environ.get("SIAGA_CENTRAL_CONFIG")
    if env:
        return Path(env)
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def database_url(db: str) -> str:
    """A URL as given, or a SQLite URL for a file path."""
    return db if "://" in db else f"sqlite:///{Path(db).resolve()}"


def open_engine(cfg: CentralConfig) -> Engine | None:
    """The configured database engine, or None after printing why the URL is unusable."""
    from central.store.engine import make_engine

    try:
        return make_engine(cfg.storage.url)
    except Exception as exc:  # sqlalchemy raises ArgumentError and ValueError subclasses
        print(f"siaga central: storage.url: {exc}", file=sys.stderr)
        return None


def load(args: argparse.Namespace) -> CentralConfig | None:
    """The effective config, or None after printing why it is invalid."""
    path = config_path(args.config)
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        print(f"siaga central: invalid configuration:\n{exc}", file=sys.stderr)
        return None
    if args.db:
        storage = cfg.storage.model_copy(update={"url": database_url(args.db)})
        cfg = cfg.model_copy(update={"storage": storage})
    log.info("configuration: %s", path or "embedded defaults")
    return cfg
