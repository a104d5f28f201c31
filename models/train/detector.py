"""Train Siaga's face-mask detector end to end: data → training → ONNX + INT8 → evaluation.

    python -m models.train.detector --arch v2 --out runs/siaga_v2 --time-budget-min 180

Reads ../shared (or $SIAGA_SHARED, or a pack file from `python -m models.train.pack`), never
split_test for training or model selection; the final report also scores split_test when
the VOC folder is on disk. Needs the `train` extra (torch).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.detector import load_detector
from models.train.data import DataPack, build_pack, load_pack, shared_root
from models.train.faces import yunet_finder
from models.train.finish import export_both, latency_table, make_frame, scenes_ap, split_report
from models.train.loop import TrainConfig, Trainer, pick_device
from models.train.net import ARCHS

DEFAULT_ARCH = "v1"
INIT_FILE = "ultraface_masked_rfb_640.pth"
REFERENCES = ("aizoo_facemask_360", "ultraface_masked_rfb_640")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m models.train.detector",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="shared folder (holding data/andrewmvd, data/crops) or a pack file; "
        "default $SIAGA_SHARED or ../shared",
    )
    p.add_argument(
        "--arch",
        choices=sorted(ARCHS),
        default=DEFAULT_ARCH,
        help="network: v1 UltraFace RFB layout (starts from its masked-face weights; the shipped "
        "model), v2 plain convolutions (INT8-friendly, random start)",
    )
    p.add_argument("--out", type=Path, default=None, help="default runs/siaga_<arch>")
    p.add_argument("--name", default="", help="exported model name; default siaga_facemask_<arch>")
    p.add_argument(
        "--init",
        default="",
        help=f"starting weights: a state_dict (.pth) or an earlier run's best.pt / last.pt (to "
        f"continue training); v1 default: the pack's, else models/{INIT_FILE} "
        "under the shared folder; v2 default and 'none': random weights",
    )
    p.add_argument(
        "--time-budget-min",
        type=float,
        default=180.0,
        help="stop training after this many minutes (0: run all epochs)",
    )
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--batch", type=int, default=0, help="default 64 on GPU, 16 on CPU")
    p.add_argument("--lr", type=float, default=0.0, help="default 1e-3 (AdamW)")
    p.add_argument("--workers", type=int, default=-1, help="loader processes; default cores - 1")
    p.add_argument("--device", default="auto")
    p.add_argument("--val-every-s", type=float, default=0.0, help="default 60 (GPU) / 600 (CPU)")
    p.add_argument("--teacher", default="",
                   help="distil a trained network's class scores into this one (same priors), "
                   "e.g. --arch v2 --teacher runs/siaga_v1/best.pt; the logged cls loss then "
                   "includes the distillation term")  # fmt: skip
    p.add_argument("--kd-weight", type=float, default=1.0, help="weight of the distillation term")
    p.add_argument("--kd-temp", type=float, default=2.0, help="distillation temperature")
    p.add_argument("--epoch-repeat", type=int, default=0, help="passes per loader epoch")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.add_argument("--limit-train", type=int, default=0, help="use only N training scenes")
    p.add_argument("--limit-val", type=int, default=0, help="use only N validation scenes")
    p.add_argument("--no-test", action="store_true", help="skip the split_test report")
    p.add_argument(
        "--compare",
        default=",".join(REFERENCES),
        help="reference models scored and timed in the same run ('' for none)",
    )
    p.add_argument(
        "--skip-training",
        action="store_true",
        help="no training: export, evaluate and time an existing <out>/best.pt",
    )
    p.add_argument(
        "--train-only",
        action="store_true",
        help="stop after training (best.pt); export and report later",
    )
    p.add_argument(
        "--no-last",
        action="store_true",
        help="do not write last.pt (no --resume possible; fewer files)",
    )
    p.add_argument("--lr-scale", type=float, default=1.0, help="multiply the learning rate")
    p.add_argument(
        "--no-mask-weight",
        type=float,
        default=1.0,
        help="class weight of no_mask in the classification loss",
    )
    args = p.parse_args(argv)
    args.out = args.out or Path("runs") / f"siaga_{args.arch}"
    args.name = args.name or f"siaga_facemask_{args.arch}"
    return args


def load_data(args: argparse.Namespace) -> tuple[DataPack, Path | None]:
    """The pack, and the shared folder when the data came from one."""
    source = args.data or shared_root()
    if source.is_file():
        shared = shared_root()
        if shared.is_dir():
            os.environ.setdefault("SIAGA_SHARED", str(shared))  # reference models, split_test
        return load_pack(source), shared if shared.is_dir() else None
    os.environ.setdefault("SIAGA_SHARED", str(source))  # reference models for --compare
    if not (source / "data" / "andrewmvd").is_dir():
        sys.exit(
            f"no training data: {source}/data/andrewmvd is missing (set SIAGA_SHARED or --data)"
        )
    return build_pack(source, finder=yunet_finder()), source


def init_state(
    args: argparse.Namespace, pack: DataPack, shared: Path | None
) -> tuple[dict[str, torch.Tensor] | None, str]:
    """Starting weights and a note of where they came from."""
    if args.init == "none" or (args.arch != "v1" and not args.init):
        return None, "random"
    if args.init:
        loaded = torch.load(args.init, map_location="cpu", weights_only=False)
        if isinstance(loaded, dict) and "ema" in loaded:  # a best.pt / last.pt of an earlier run
            arch = loaded.get("config", {}).get("arch", "v1")
            if arch != args.arch:
                sys.exit(f"--init {args.init} holds a {arch} network, not --arch {args.arch}")
            loaded = loaded["ema"]
        return loaded, args.init
    if pack.init_weights:
        return {k: torch.from_numpy(v) for k, v in pack.init_weights.items()}, "pack"
    if shared and (shared / "models" / INIT_FILE).is_file():
        path = shared / "models" / INIT_FILE
        return torch.load(path, map_location="cpu", weights_only=True), str(path)
    print("warning: no starting weights found; training from random initialisation")
    return None, "random"


def make_config(args: argparse.Namespace, init_note: str) -> TrainConfig:
    """Defaults that depend on the device."""
    gpu = pick_device(args.device).type == "cuda"
    cores = os.cpu_count() or 2
    return TrainConfig(
        out=args.out,
        arch=args.arch,
        batch=args.batch or (64 if gpu else 16),
        lr=(args.lr or 1e-3) * args.lr_scale,
        epochs=args.epochs,
        time_budget_min=args.time_budget_min,
        init=init_note,
        workers=args.workers if args.workers >= 0 else max(1, cores - 1),
        device=args.device,
        val_every_s=args.val_every_s or (60.0 if gpu else 600.0),
        epoch_repeat=args.epoch_repeat or (4 if gpu else 1),
        resume=args.resume,
        save_last=not args.no_last,
        no_mask_weight=args.no_mask_weight,
        teacher=args.teacher,
        kd_weight=args.kd_weight,
        kd_temp=args.kd_temp,
    )


def final_report(
    args: argparse.Namespace, pack: DataPack, shared: Path | None, paths: tuple[Path, Path]
) -> dict[str, Any]:
    """Val AP of both exports, split_test reports and latency next to the references."""
    val_images = [s.image() for s in pack.val]
    report: dict[str, Any] = {"val_ap50": {}, "test": {}, "latency_720p_2threads_ms": {}}
    models = {args.name: str(paths[0]), f"{args.name}_int8": str(paths[1])}
    refs = [r for r in args.compare.split(",") if r]
    for label, ref in models.items():
        report["val_ap50"][label] = scenes_ap(load_detector(ref), pack.val, val_images)
        print(f"val AP50 {label}: {report['val_ap50'][label]}", flush=True)
    voc = shared / "data" / "andrewmvd" if shared else None
    if voc and voc.is_dir() and not args.no_test:
        for label, ref in {**models, **{r: r for r in refs}}.items():
            try:
                rep = split_report(load_detector(ref), label, voc, "test")
            except Exception as exc:  # a missing reference must not sink the report
                print(f"test: skipping {label}: {exc}")
                continue
            report["test"][label] = rep
            print(f"test AP50 {label}: {rep['ap50']}", flush=True)
    frame = make_frame(val_images[0])
    report["latency_720p_2threads_ms"] = latency_table({**models, **{r: r for r in refs}}, frame)
    for label, lat in report["latency_720p_2threads_ms"].items():
        print(f"latency {label}: median {lat['median']:.1f} ms, p90 {lat['p90']:.1f} ms")
    return report


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    if torch.cuda.is_available():
        torch.set_num_threads(4)  # the loader processes need the cores, not the main process
    pack, shared = load_data(args)
    if args.limit_train:
        pack.train = pack.train[: args.limit_train]
    if args.limit_val:
        pack.val = pack.val[: args.limit_val]
    print(
        f"data: {len(pack.train)} train scenes, {len(pack.val)} val scenes, "
        f"{len(pack.crops)} crops",
        flush=True,
    )
    state, note = init_state(args, pack, shared)
    cfg = make_config(args, note)
    best = args.out / "best.pt"
    if not args.skip_training:
        print(
            f"training on {pick_device(cfg.device)}: batch {cfg.batch}, lr {cfg.lr}, "
            f"{cfg.workers} workers, budget {cfg.time_budget_min} min, init {note}",
            flush=True,
        )
        best = Trainer(cfg, pack, state).run()
    if args.train_only:
        return
    calibration = [s.image() for s in pack.train[:: max(1, len(pack.train) // 32)]]
    paths = export_both(best, args.out, args.name, calibration, width=cfg.width, height=cfg.height)
    print(f"exported {paths[0]} and {paths[1]}", flush=True)
    report = final_report(args, pack, shared, paths)
    ck = torch.load(best, map_location="cpu", weights_only=False)
    report["best_checkpoint"] = {"step": ck.get("step"), "val_ap50_torch": ck.get("ap")}
    (args.out / "report.json").write_text(json.dumps(report, indent=2, default=_json_default))
    print(f"report: {args.out / 'report.json'}")


def _json_default(value: object) -> object:
    if isinstance(value, np.floating | np.integer):
        return value.item()
    return str(value)


if __name__ == "__main__":
    main()
