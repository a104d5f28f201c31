"""Train the mask / no_mask face-crop classifier (stage two of two_stage) and export it to ONNX.

    python -m models.train.classifier --shared ../shared --out models/ [--epochs N] [--resume]

Data: ../shared/data/crops (every 10th file held out) and faces cut from the andrewmvd photos of
split_train.txt (training) and split_val.txt (validation); split_test.txt is never read.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from models.runtime import RuntimeConfig, make_session
from models.train.classifier_data import (
    INPUT_SIZE,
    LABELS,
    MIN_TRAIN_FACE_PX,
    MODEL_NAME,
    Sample,
    augment,
    eval_crop,
    load_andrewmvd,
    load_crops,
    metrics,
    onnx_report,
    shared_dir,
    to_input,
)


class CropDataset(Dataset[tuple[torch.Tensor, int]]):
    """Training items are (index, epoch, draw) keys, so augmentation is seeded and repeatable."""

    def __init__(self, samples: list[Sample], *, seed: int) -> None:
        self.samples = samples
        self.seed = seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | tuple[int, int, int]) -> tuple[torch.Tensor, int]:
        if isinstance(key, tuple):
            sample = self.samples[key[0]]
            crop = augment(sample, np.random.default_rng((self.seed, *key)))
        else:
            sample = self.samples[key]
            crop = eval_crop(sample)
        return torch.from_numpy(to_input(crop)), sample.label


class BalancedSampler(Sampler[tuple[int, int, int]]):
    """With replacement: each source half of an epoch, its classes in proportion to √count."""

    def __init__(self, samples: list[Sample], *, seed: int) -> None:
        groups = [(s.source, s.kind) for s in samples]
        counts = {g: groups.count(g) for g in set(groups)}
        share = {g: math.sqrt(n) for g, n in counts.items()}  # rarer classes drawn more often
        per_source = {src: sum(v for (s, _), v in share.items() if s == src) for src, _ in share}
        share = {g: v / per_source[g[0]] for g, v in share.items()}
        self.weights = torch.tensor([share[g] / counts[g] for g in groups], dtype=torch.float64)
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.weights)

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        gen = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        picks = torch.multinomial(self.weights, len(self.weights), True, generator=gen)
        for draw, i in enumerate(picks.tolist()):
            yield i, self.epoch, draw


def _dw_block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class MaskNet(nn.Module):
    """64x64 RGB → 2 logits [mask, no_mask]: a stem and depthwise-separable blocks."""

    def __init__(self) -> None:
        super().__init__()
        plan = [
            (16, 32, 1),
            (32, 64, 2),
            (64, 64, 1),
            (64, 128, 2),
            (128, 128, 1),
            (128, 256, 2),
            (256, 256, 1),
        ]
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            *[_dw_block(cin, cout, s) for cin, cout, s in plan],
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(256, len(LABELS)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (N, 2)."""
        return self.head(self.features(x).mean(dim=(2, 3), keepdim=True))


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader[tuple[torch.Tensor, int]]) -> np.ndarray:
    """Argmax class of every item of an evaluation loader."""
    model.eval()
    return np.concatenate([model(x).argmax(1).numpy() for x, _ in loader])


def export_onnx(model: nn.Module, path: Path) -> None:
    """ONNX opset 17, input 'input' (N, 3, 64, 64), output 'logits' (N, 2), dynamic N."""
    model.eval()
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )


def seed_everything(seed: int) -> None:
    """Python, numpy and torch seeds."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(args: argparse.Namespace) -> dict[str, object]:
    """Train (or resume), checkpoint every epoch, export ONNX, report validation figures."""
    seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    shared, work, out = shared_dir(args.shared), Path(args.work), Path(args.out)
    if not (shared / "data" / "andrewmvd").is_dir():
        raise SystemExit(f"shared data not found at {shared} (pass --shared or set SIAGA_SHARED)")
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    train_set = load_andrewmvd(shared, "train", MIN_TRAIN_FACE_PX) + load_crops(shared, "train")
    val, crops_val = load_andrewmvd(shared, "val"), load_crops(shared, "val")
    tqdm.write(
        f"data: {len(train_set)} train, {len(val)} andrewmvd val, {len(crops_val)} crops "
        f"val ({time.monotonic() - t0:.1f} s)"
    )
    sampler = BalancedSampler(train_set, seed=args.seed)
    loader = DataLoader(
        CropDataset(train_set, seed=args.seed),
        batch_size=args.batch,
        sampler=sampler,
        num_workers=args.workers,
        drop_last=True,
        persistent_workers=args.workers > 0,
        generator=torch.Generator().manual_seed(args.seed),  # keeps the global RNG for dropout
    )
    val_loader = DataLoader(
        CropDataset(val, seed=args.seed),
        batch_size=256,
        generator=torch.Generator().manual_seed(args.seed),
    )
    model = MaskNet().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    total, warm = args.epochs * len(loader), len(loader)

    def lr_factor(step: int) -> float:  # one epoch of linear warm-up, then cosine to zero
        return min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    ckpt, start, history, spent = work / "last.pt", 0, [], 0.0
    if args.resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start, history, spent = state["epoch"] + 1, state["history"], state["seconds"]
        if "torch_rng" in state:  # dropout continues as if never stopped
            torch.set_rng_state(state["torch_rng"])
        tqdm.write(f"resumed from {ckpt} after epoch {start}")
    for epoch in range(start, args.epochs):
        t_epoch = time.monotonic()
        model.train()
        sampler.epoch = epoch
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch", leave=False)
        run_loss = 0.0
        for step, (x, y) in enumerate(bar):
            loss = loss_fn(model(x.contiguous(memory_format=torch.channels_last)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run_loss = loss.item() if step == 0 else 0.9 * run_loss + 0.1 * loss.item()
            bar.set_postfix(loss=f"{run_loss:.3f}", lr=f"{sched.get_last_lr()[0]:.2e}")
        m = metrics(np.array([s.label for s in val]), predict(model, val_loader))
        spent += time.monotonic() - t_epoch
        history.append({"epoch": epoch + 1, "loss": run_loss, **m})
        tqdm.write(
            f"epoch {epoch + 1:3d}  loss {run_loss:.3f}  val acc {m['accuracy']:.4f}  "
            f"recall mask {m['recall_mask']:.3f} no_mask {m['recall_no_mask']:.3f}  "
            f"[{spent / 60:.1f} min]"
        )
        state = {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "epoch": epoch,
            "history": history,
            "seconds": spent,
            "torch_rng": torch.get_rng_state(),
            "args": vars(args),
        }
        torch.save(state, work / "last.tmp")
        os.replace(work / "last.tmp", ckpt)
    onnx_path = out / f"{MODEL_NAME}.onnx"
    model = model.to(memory_format=torch.contiguous_format)
    export_onnx(model, onnx_path)
    with torch.no_grad():
        x = next(iter(val_loader))[0][:64]
        ref = model.eval()(x).numpy()
    got = make_session(onnx_path, RuntimeConfig()).run(None, {"input": x.numpy()})[0]
    report = onnx_report(onnx_path, val, crops_val)
    report |= {
        "train_seconds": round(spent, 1),
        "epochs": args.epochs,
        "onnx_vs_torch_max_abs_diff": float(np.abs(ref - got).max()),
    }
    (work / "report.json").write_text(json.dumps({"report": report, "history": history}, indent=2))
    return report


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--shared", help="the shared data folder (default $SIAGA_SHARED or ../shared)")
    p.add_argument("--out", default="models", help="where the .onnx goes (default models/)")
    p.add_argument("--work", default="out/train_classifier", help="checkpoints and report")
    p.add_argument("--epochs", type=int, default=36)
    p.add_argument("--resume", action="store_true", help="continue from WORK/last.pt")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 + 1 loader: 2 cores)")
    p.add_argument("--workers", type=int, default=1, help="data-loading processes")
    report = train(p.parse_args(argv))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
