"""`siaga detect`, `siaga eval` and `siaga models`: the detection core's command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from models.detector import DEFAULT_MODEL, load_detector
from models.registry import ModelError, Registry
from models.runtime import RuntimeConfig
from siaga.cli import Group

# `siaga` finds this through the entry point `siaga.commands` (pyproject.toml).
COMMANDS = Group(__name__)


def register(sub: Any) -> None:
    """Add the detection subcommands to the `siaga` parser."""
    d = sub.add_parser("detect", help="detect masked / unmasked faces in images, folders, videos")
    d.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    _model_args(d)
    d.add_argument(
        "--conf",
        type=float,
        default=None,
        help="score threshold (default: the model's operating threshold)",
    )
    d.add_argument("--jsonl", type=Path, help="write one JSON line per image / video frame")
    d.add_argument("--annotate", type=Path, metavar="DIR", help="write images with boxes drawn")
    d.set_defaults(func=run_detect)

    e = sub.add_parser("eval", help="PASCAL-VOC evaluation: AP50/AP30, count error, latency")
    e.add_argument("--images", type=Path, required=True)
    e.add_argument("--annotations", type=Path, required=True)
    e.add_argument("--split", type=Path, help="file of image stems to restrict to")
    _model_args(e)
    e.add_argument("--json", type=Path, help="write the report as JSON here")
    e.set_defaults(func=run_eval)

    m = sub.add_parser("models", help="list the registered models and where their files are")
    m.set_defaults(func=run_models)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, help="registry name or path to .onnx")
    p.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    p.add_argument(
        "--provider",
        action="append",
        dest="providers",
        help="onnxruntime execution provider (repeatable; CPU is always the fallback)",
    )


def _runtime(args: argparse.Namespace) -> RuntimeConfig:
    providers = tuple(args.providers or ("CPUExecutionProvider",))
    return RuntimeConfig(intra_op_threads=args.threads, providers=providers)


def _fail(message: str) -> int:
    print(f"siaga: error: {message}", file=sys.stderr)
    return 2


def run_detect(args: argparse.Namespace) -> int:
    """Detect on every input; per-file errors are reported and make the exit status 1."""
    from models.detect_run import DetectJob

    if args.conf is not None and not 0.0 <= args.conf <= 1.0:
        return _fail(f"--conf must be between 0 and 1, got {args.conf}")
    try:
        detector = load_detector(args.model, runtime=_runtime(args))
    except ModelError as exc:
        return _fail(str(exc))
    job = DetectJob(detector, conf=args.conf, annotate_dir=args.annotate)
    out: TextIO | None = None
    try:
        if args.jsonl is not None:
            args.jsonl.parent.mkdir(parents=True, exist_ok=True)
            out = args.jsonl.open("w", encoding="utf-8")
        stats = job.run(args.paths, out)
    finally:
        if out is not None:
            out.close()
    print(stats.summary(), file=sys.stderr)
    if stats.processed == 0 and stats.errors:
        return 2 if stats.inputs == 0 else 1
    return 1 if stats.errors else 0


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate one model on a VOC folder, print a table and optionally write JSON."""
    from models.eval_run import evaluate_folder, format_report

    try:
        detector = load_detector(args.model, runtime=_runtime(args))
        report = evaluate_folder(detector, args.images, args.annotations, split=args.split)
    except (ModelError, FileNotFoundError, ValueError) as exc:
        return _fail(str(exc))
    print(format_report(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    for err in report.errors:
        print(f"siaga: warning: {err}", file=sys.stderr)
    return 1 if report.errors else 0


def run_models(args: argparse.Namespace) -> int:
    """Print each registered model, its adapter and whether its file is found."""
    try:
        reg = Registry()
    except ModelError as exc:
        return _fail(str(exc))
    print("search path: " + ", ".join(str(d) for d in reg.dirs))
    for name in reg.names():
        spec = reg.specs[name]
        try:
            located = reg.locate_parts(spec)  # the lookup resolve() (check-config, run) uses
        except ModelError as exc:
            where = f"BROKEN: {exc}"
        else:
            missing = [part.file or part.name for part, path in located if path is None]
            where = (f"NOT FOUND: {', '.join(missing)} (set SIAGA_MODEL_PATH)" if missing
                     else " + ".join(str(path) for _, path in located))  # fmt: skip
        kind = spec.adapter if spec.is_detector else f"{spec.adapter} (component)"
        print(f"{name:28} {kind:22} {spec.license:18} {where}")
    return 0
