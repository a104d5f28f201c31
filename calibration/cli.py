"""`siaga calibrate …`: check a calibration file, grab snapshots, fit thresholds, judge a view."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from siaga.cli import Group
from siaga.settings import ConfigError

# `siaga` finds this through the entry point `siaga.commands` (pyproject.toml).
COMMANDS = Group(__name__)


def register(sub: Any) -> None:
    """Add `siaga calibrate …` to the command line."""
    p = sub.add_parser("calibrate", help="technician tools: calibration files, snapshots, fits")
    csub = p.add_subparsers(dest="calibrate_command", metavar="ACTION", required=True)

    chk = csub.add_parser("check", help="validate a calibration file as the agent will load it")
    chk.add_argument("file", type=Path, metavar="FILE")
    chk.add_argument("--camera", help="camera id the file must be for")
    chk.set_defaults(func=run_check_cmd)

    snap = csub.add_parser("snapshot", help="save frames from a camera or clip to a local folder")
    src = snap.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", type=Path, help="a video file")
    src.add_argument("--camera", help="a camera of --config")
    snap.add_argument("--config", type=Path, help="agent config (with --camera)")
    snap.add_argument("--out", type=Path, default=Path("snapshots"), metavar="DIR")
    snap.add_argument("--count", type=int, default=10, metavar="N")
    snap.add_argument("--every", type=int, default=1, metavar="K", help="keep one frame in K")
    snap.set_defaults(func=run_snapshot)

    fit = csub.add_parser("fit", help="fit per-class thresholds from labels, write the file")
    fit.add_argument("--labels", type=Path, required=True, help="JSON lines: score/predicted/truth")
    fit.add_argument("--camera", required=True)
    fit.add_argument("--version", required=True, help="calibration version, e.g. 2026-11-27a")
    fit.add_argument("--out", type=Path, required=True)
    fit.add_argument("--target-precision", type=float, default=0.9)
    fit.add_argument("--best-f1", action="store_true", help="maximise F1 instead")
    fit.set_defaults(func=run_fit_cmd)

    ev = csub.add_parser(
        "evaluate-fit",
        help="measure fitting on andrewmvd: fit on half of split_val, score the rest",
    )
    evaluate_fit_arguments(ev)
    ev.set_defaults(func=run_evaluate_fit_cmd)

    rep = csub.add_parser("report", help="is this view good enough to judge masks?")
    rep.add_argument("--video", type=Path, required=True)
    rep.add_argument("--model", default=None, help="default: the shipped model")
    rep.add_argument("--frames", type=int, default=60, help="frames sampled over the clip")
    rep.add_argument("--json", action="store_true", help="print JSON instead of text")
    rep.set_defaults(func=run_report_cmd)

    pre = csub.add_parser("preview", help="counts the agent would publish for a clip, no broker")
    pre.add_argument("--config", type=Path, required=True, help="the agent config")
    pre.add_argument("--camera", required=True)
    pre.add_argument("--calibration", type=Path, required=True, metavar="FILE")
    pre.add_argument("--video", type=Path, required=True)
    pre.add_argument("--out", type=Path, default=Path("preview"), metavar="DIR")
    pre.set_defaults(func=run_preview_cmd)

    srv = csub.add_parser("serve", help="local web page: draw zones, label faces, save the file")
    srv.add_argument("--snapshot", type=Path, required=True, metavar="DIR_OR_IMAGE")
    srv.add_argument("--camera", help="camera id the file is for (else typed on the page)")
    srv.add_argument("--out", type=Path, default=None, metavar="FILE", help="default: CAMERA.json")
    srv.add_argument(
        "--host",
        default="127.0.0.1",
        help="default 127.0.0.1 (loopback only); the page answers to this name and loopback only",
    )
    srv.add_argument("--port", type=int, default=8765)
    srv.add_argument("--model", default="siaga_facemask_v1")
    srv.set_defaults(func=run_serve_cmd)


def evaluate_fit_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `siaga calibrate evaluate-fit` (here, so that `siaga` starts light)."""
    p.add_argument("--model", default=None, help="default: the shipped model")
    p.add_argument("--target", type=float, default=0.9, help="target precision (0.9)")
    p.add_argument("--mode", choices=("precision", "f1"), default="precision")
    p.add_argument("--splits", type=int, default=50, help="random halvings (50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--min-face-px", type=float, default=None, help="default: the report's unreliable size"
    )
    p.add_argument("--json", type=Path, default=None, metavar="FILE")
    p.add_argument(
        "--no-test",
        dest="test",
        action="store_false",
        help="skip the split_val -> split_test check",
    )


def _err(msg: str) -> int:
    print(f"siaga calibrate: {msg}", file=sys.stderr)
    return 2


def run_check_cmd(args: argparse.Namespace) -> int:
    """Validate one calibration file; 0 when valid, 2 with one clear error otherwise."""
    from calibration.check import run_check

    status, lines = run_check(args.file, args.camera)
    print("\n".join(lines), file=sys.stdout if status == 0 else sys.stderr)
    return status


def run_snapshot(args: argparse.Namespace) -> int:
    """Grab frames from a configured camera or a video file into a local folder."""
    from calibration.snapshot import camera_from_config, snapshot

    if args.count < 1 or args.every < 1:
        return _err("--count and --every must be at least 1")
    try:
        if args.camera is not None:
            if args.config is None:
                return _err("--camera needs --config")
            cam = camera_from_config(args.config, args.camera)
            source, prefix = cam.source, cam.id
            open_s, read_s = cam.open_timeout_s, cam.read_timeout_s
        else:
            if not args.video.is_file():
                return _err(f"{args.video}: video file not found")
            source, prefix, open_s, read_s = str(args.video), args.video.stem, 10.0, 10.0
        paths = snapshot(
            source=source, prefix=prefix, out_dir=args.out, count=args.count, every=args.every,
            open_timeout_s=open_s, read_timeout_s=read_s,
        )  # fmt: skip
    except ConfigError as exc:
        return _err(f"invalid configuration: {exc}")
    except OSError as exc:
        return _err(str(exc))
    print(f"{len(paths)} frame(s) written to {args.out} (local only)")
    return 0


def run_fit_cmd(args: argparse.Namespace) -> int:
    """Fit thresholds from a labels file and write a calibration file the agent accepts."""
    from calibration.fit import NotEnoughLabels, fit_thresholds
    from calibration.labels_io import calibration_data, read_labels, write_calibration

    try:
        labels = read_labels(args.labels)
        fits = fit_thresholds(
            labels,
            mode="f1" if args.best_f1 else "precision",
            target_precision=args.target_precision,
        )
        data = calibration_data(args.camera, args.version, fits, labels=labels)
        write_calibration(args.out, data)
    except NotEnoughLabels as exc:
        return _err(str(exc))
    except (OSError, ValueError, ConfigError) as exc:
        return _err(str(exc))
    for f in fits.values():
        print(f.describe())
    print(f"wrote {args.out}")
    return 0


def run_evaluate_fit_cmd(args: argparse.Namespace) -> int:
    """Fitted vs default thresholds on held-out halves of andrewmvd split_val."""
    from calibration.evaluate_fit import run
    from models.registry import ModelError

    try:
        return run(args)
    except ModelError as exc:
        return _err(f"model: {exc}")


def run_report_cmd(args: argparse.Namespace) -> int:
    """Print the suitability report of a sample clip."""
    from agent.config import JudgingSection
    from calibration.report import render, run_report
    from models.detector import DEFAULT_MODEL, load_classifier, load_detector
    from models.registry import ModelError

    if not args.video.is_file():
        return _err(f"{args.video}: video file not found")
    judging = JudgingSection()  # the agent's defaults: what it will say about this view
    try:
        detector = load_detector(args.model or DEFAULT_MODEL)
        classifier = load_classifier(judging.second_opinion) if judging.second_opinion else None
        report = run_report(detector, args.video, count=max(1, args.frames),
                            classifier=classifier, judging=judging)  # fmt: skip
    except ModelError as exc:
        return _err(f"model: {exc}")
    except OSError as exc:
        return _err(str(exc))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("\n".join(render(report)))
    return 0


def run_preview_cmd(args: argparse.Namespace) -> int:
    """Run the agent's worker with a calibration file over a clip; print its windows."""
    from agent.calibration_file import load_calibration
    from agent.config import load_config
    from agent.service import build_detector
    from calibration.preview import preview_camera, render_windows, run_worker, write_strip
    from calibration.snapshot import camera_from_config
    from models.registry import ModelError

    if not args.video.is_file():
        return _err(f"{args.video}: video file not found")
    try:
        cfg = load_config(args.config)
        cam = preview_camera(
            camera_from_config(args.config, args.camera), args.video, args.calibration
        )
        # The file is checked before the model loads: a wrong file is the likelier mistake.
        load_calibration(args.calibration, camera_id=cam.id)
        detector = build_detector(cfg)
        result, worker = run_worker(cfg, cam, detector, args.video)
        strip = write_strip(worker, args.video, args.out / f"{cam.id}_preview.jpg")
    except ConfigError as exc:
        return _err(f"invalid: {exc}")
    except ModelError as exc:
        return _err(f"model: {exc}")
    except OSError as exc:
        return _err(str(exc))
    print("\n".join(render_windows(result)))
    print(f"annotated strip (faces pixelated, local only): {strip}")
    return 0


def run_serve_cmd(args: argparse.Namespace) -> int:
    """Serve the calibration page for a snapshot folder or image."""
    from calibration.serve_http import run_serve
    from models.registry import ModelError

    try:
        return run_serve(
            args.snapshot, camera=args.camera, out=args.out, host=args.host, port=args.port,
            model=args.model,
        )  # fmt: skip
    except ModelError as exc:
        return _err(f"model: {exc}")
    except OSError as exc:
        return _err(str(exc))
