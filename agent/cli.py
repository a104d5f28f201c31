"""`siaga agent run` and `siaga agent check-config`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from agent.config import DEFAULT_CONFIG_PATH, AgentConfig, CameraSection, load_config, redacted
from models.registry import ModelError
from siaga.camera_url import has_password
from siaga.cli import Group
from siaga.mqtt import check_tls_files
from siaga.settings import ConfigError, print_check

log = logging.getLogger(__name__)

# `siaga` finds this through the entry point `siaga.commands` (pyproject.toml).
COMMANDS = Group(__name__)


def register(sub: Any) -> None:
    """Add `siaga agent …` to the command line."""
    p = sub.add_parser("agent", help="the edge agent daemon")
    asub = p.add_subparsers(dest="agent_command", metavar="ACTION", required=True)
    default = Path(os.environ.get("SIAGA_AGENT_CONFIG", DEFAULT_CONFIG_PATH))
    run = asub.add_parser("run", help="run the agent until SIGTERM")
    run.add_argument("--config", type=Path, default=default)
    run.add_argument(
        "--exit-at-end",
        action="store_true",
        help="stop once every (non-looping) video file has been played",
    )
    run.set_defaults(func=run_agent)
    chk = asub.add_parser("check-config", help="validate the config and print it, secrets hidden")
    chk.add_argument("--config", type=Path, default=default)
    chk.add_argument(
        "--connect",
        action="store_true",
        help="also log in to the broker and read one frame from every camera (one line each)",
    )
    chk.set_defaults(func=check_config)


def _load(path: Path) -> AgentConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"siaga agent: invalid configuration:\n{exc}", file=sys.stderr)
        return None


def check_config(args: argparse.Namespace) -> int:
    """Validate config, model, calibration files, video files (one frame decoded) and the
    outbox (opened read-write as the agent will) without running anything."""
    from agent.service import build_detector, camera_setup
    from agent.source import is_file_source, is_synthetic

    cfg = _load(args.config)
    if cfg is None:
        return 2
    connect = bool(getattr(args, "connect", False))
    problems: list[str] = []
    try:
        detector = build_detector(cfg)
        conf = cfg.model.conf_threshold or detector.spec.conf_threshold
        for cam in cfg.cameras:
            try:
                camera_setup(cam, conf)
            except ConfigError as exc:
                problems.append(str(exc))
            src = cam.source
            if is_file_source(src) and not is_synthetic(src) and not Path(src).is_file():
                problems.append(f"cameras.{cam.id}.source: file {src} not found")
            elif is_file_source(src) and not is_synthetic(src) and cam.enabled and not connect:
                problems += _check_video_file(cam)  # --connect reads every camera below
            try:
                cam.open_source()  # its password file is there, private and not empty
            except ConfigError as exc:
                problems.append(str(exc))
            if has_password(src) and args.config.is_file() and args.config.stat().st_mode & 0o004:
                print(f"siaga agent: warning: cameras.{cam.id}.source holds a password and "
                      f"{args.config} is readable by every user of this machine; keep it in "
                      "password_file or a LoadCredential=camera-<id> instead",
                      file=sys.stderr)  # fmt: skip
    except ModelError as exc:
        problems.append(f"model.name: {exc}")
    try:
        check_tls_files(cfg.mqtt)  # CA, client certificate (and its expiry), key
    except ValueError as exc:
        problems.append(str(exc))
    problems += _check_outbox(cfg.outbox.path)
    connections = _connect(cfg) if connect else []
    effective = json.dumps(redacted(cfg), indent=2, default=str)
    return print_check("siaga agent", effective, problems, connections=connections)


def _check_video_file(cam: CameraSection) -> list[str]:
    """A file the agent would play: opened with OpenCV as the agent does, one frame decoded."""
    from agent.probe import probe_camera, quiet_opencv

    quiet_opencv()
    result = probe_camera(cam)
    return [] if result.ok else [f"cameras.{cam.id}.source: {result.message}"]


def _check_outbox(path: Path) -> list[str]:
    """Can the agent open its outbox read-write? Changes nothing and leaves nothing behind.

    An existing outbox is opened read-write with plain SQLite (integrity, schema, the write
    lock taken and given back), not with Outbox, which would convert or upgrade it. A missing
    one is created as Outbox creates it, under a temporary name in its folder, then deleted; a
    missing folder (systemd's StateDirectory= makes it at start) needs a writable parent.
    Run as another user than the agent's, the permissions checked are that user's.
    """
    key = f"outbox.path: {path}"
    if path.exists():
        return [f"{key}: not a file"] if not path.is_file() else _open_existing_outbox(path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return [f"{key}: {folder} is not a folder"]
    if folder != path.parent:
        if os.access(folder, os.W_OK | os.X_OK):
            return []  # the agent creates the folders; nothing more to try without making them
        return [f"{key}: cannot create its folder: {folder} is not writable"]
    return _try_new_outbox(path)


def _open_existing_outbox(path: Path) -> list[str]:
    import sqlite3
    from urllib.parse import quote

    from agent.outbox import SCHEMA_VERSION

    key = f"outbox.path: {path}"
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=2.0,
                               isolation_level=None)  # fmt: skip
    except sqlite3.Error as exc:
        return [f"{key}: cannot open it read-write: {exc}"]
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        conn.execute("BEGIN IMMEDIATE")  # the write lock every enqueue takes; nothing written
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        return [f"{key}: cannot use it read-write: {exc} (move it aside, do not delete it: it "
                "may hold undelivered counts)"]  # fmt: skip
    finally:
        conn.close()
    if check != "ok":
        return [f"{key}: integrity check failed: {check}"]
    if version > SCHEMA_VERSION:
        return [f"{key}: written by a newer agent (outbox schema {version}, this one knows "
                f"{SCHEMA_VERSION})"]  # fmt: skip
    if not os.access(path.parent, os.W_OK | os.X_OK):
        # SQLite creates the -wal and -shm files beside it when the agent opens it.
        return [f"{key}: its folder {path.parent} is not writable"]
    return []


def _try_new_outbox(path: Path) -> list[str]:
    from agent.outbox import Outbox, OutboxError

    probe = path.with_name(f".{path.name}.check-{os.getpid()}")
    try:
        Outbox(probe, max_messages=10).close()
    except OutboxError as exc:
        return [f"outbox.path: {path}: cannot create it in {path.parent}: {exc.__cause__ or exc}"]
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            made = Path(f"{probe}{suffix}")
            if made.exists():  # (a read-only folder says EROFS, not ENOENT, to any unlink)
                made.unlink()
    return []


def _connect(cfg: AgentConfig) -> list[tuple[bool, str]]:
    """Probe the broker and every camera at once (each bounded by its own timeouts)."""
    from concurrent.futures import ThreadPoolExecutor

    from agent.probe import probe_broker, probe_camera, quiet_opencv

    quiet_opencv()
    username = cfg.mqtt.username or cfg.agent.id  # as the publisher logs in
    with ThreadPoolExecutor(max_workers=min(8, len(cfg.cameras) + 1)) as pool:
        broker = pool.submit(probe_broker, cfg.mqtt, username=username,
                             client_id=f"{cfg.agent.id}-check-{os.getpid()}")  # fmt: skip
        cameras = [pool.submit(probe_camera, cam) for cam in cfg.cameras]
        results = [broker.result()] + [f.result() for f in cameras]
    return [(r.ok, r.line) for r in results]


def run_agent(args: argparse.Namespace) -> int:
    """Run the daemon; SIGTERM/SIGINT stop it cleanly within 5 s."""
    from agent.service import AgentService

    if args.verbose == 0:
        logging.getLogger().setLevel(logging.INFO)  # a daemon's journal wants INFO by default
    cfg = _load(args.config)
    if cfg is None:
        return 2
    try:
        service = AgentService(cfg)
    except (ModelError, ConfigError) as exc:
        print(f"siaga agent: cannot start: {exc}", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop())
    return service.run(exit_when_sources_end=args.exit_at_end)
