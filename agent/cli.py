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

from agent.config import DEFAULT_CONFIG_PATH, AgentConfig, load_config, redacted
from models.registry import ModelError
from siaga.camera_url import has_password
from siaga.mqtt import check_tls_files
from siaga.settings import ConfigError, print_check

log = logging.getLogger(__name__)


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
    """Validate config, model, calibration files and sources without running anything."""
    from agent.service import build_detector, camera_setup
    from agent.source import is_file_source, is_synthetic

    cfg = _load(args.config)
    if cfg is None:
        return 2
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
    connections = _connect(cfg) if getattr(args, "connect", False) else []
    effective = json.dumps(redacted(cfg), indent=2, default=str)
    return print_check("siaga agent", effective, problems, connections=connections)


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
