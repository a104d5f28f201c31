"""The training loop: time-budgeted, checkpointed, resumable, validated on split_val."""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from models.train.augment import AugmentConfig
from models.train.data import DataPack
from models.train.dataset import SceneDataset, collate, to_input
from models.train.export import training_spec
from models.train.net import Deployable, build_net, make_priors
from models.train.targets import distill_loss, hard_negatives, match, multibox_loss
from models.train.validate import val_ap50


@dataclass
class TrainConfig:
    """Every knob of one training run (recorded in each checkpoint)."""

    out: Path
    arch: str = "v1"  # models.train.net.ARCHS
    width: int = 640
    height: int = 480
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 300
    time_budget_min: float = 0.0  # 0: no limit; otherwise stop (and then export) at this time
    warmup_frac: float = 0.03
    init: str = ""  # where the starting weights came from (recorded only)
    workers: int = 2
    device: str = "auto"
    iou_threshold: float = 0.35
    neg_ratio: int = 3
    no_mask_weight: float = 2.0
    ema_decay: float = 0.999
    val_every_s: float = 60.0
    epoch_repeat: int = 1  # passes over split_train per loader epoch
    log_every_s: float = 10.0
    seed: int = 0
    resume: bool = False
    save_last: bool = True  # last.pt after every epoch (needed for --resume)
    # Knowledge distillation from a trained network with the same priors (e.g. v1 → v2).
    teacher: str = ""  # its best.pt / last.pt / state_dict; "" for none
    kd_weight: float = 1.0
    kd_temp: float = 2.0
    kd_min_score: float = 0.3  # also distil priors where the teacher sees a face this sure
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class TrainState:
    """What a checkpoint restores besides weights."""

    step: int = 0
    epoch: int = 0
    elapsed_s: float = 0.0
    best_score: float = -1.0
    best_ap: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


def pick_device(name: str) -> torch.device:
    """'auto' → CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def lr_at(progress: float, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 2% of the base rate."""
    if progress < cfg.warmup_frac:
        return cfg.lr * max(progress / cfg.warmup_frac, 0.01)
    t = min(1.0, (progress - cfg.warmup_frac) / max(1e-9, 1 - cfg.warmup_frac))
    return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


def param_groups(net: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases and batch-norm parameters."""
    decay: list[torch.nn.Parameter] = []
    plain: list[torch.nn.Parameter] = []
    for p in net.parameters():
        (decay if p.ndim > 1 else plain).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


@torch.no_grad()
def ema_update(ema: torch.nn.Module, net: torch.nn.Module, decay: float) -> None:
    """Exponential moving average of weights; buffers (BN statistics) copied."""
    for e, p in zip(ema.parameters(), net.parameters(), strict=True):
        e.lerp_(p.detach(), 1 - decay)
    for eb, b in zip(ema.buffers(), net.buffers(), strict=True):
        eb.copy_(b)


def save_checkpoint(path: Path, **parts: Any) -> None:
    """Atomic write (temp file, then rename) so a kill never leaves half a checkpoint."""
    tmp = path.with_suffix(".tmp")
    torch.save(parts, tmp)
    os.replace(tmp, path)


class Trainer:
    """Owns model, EMA, optimiser and state; `run` trains until epochs or the time budget."""

    def __init__(
        self, cfg: TrainConfig, pack: DataPack, init_state: dict[str, torch.Tensor] | None = None
    ) -> None:
        self.cfg, self.pack = cfg, pack
        self.device = pick_device(cfg.device)
        torch.manual_seed(cfg.seed)
        torch.backends.cudnn.benchmark = True  # fixed input size
        self.net = build_net(cfg.arch)
        if init_state:
            self.net.load_state_dict(init_state)
        self.net.to(self.device)
        self.ema = copy.deepcopy(self.net).eval()
        self.opt = torch.optim.AdamW(param_groups(self.net, cfg.weight_decay), lr=cfg.lr)
        self.priors = make_priors(cfg.width, cfg.height).to(self.device)
        self.class_weights = torch.tensor([1.0, cfg.no_mask_weight, 1.0], device=self.device)
        self.teacher = load_teacher(cfg.teacher, self.device) if cfg.teacher else None
        self.state = TrainState()
        self.val_images = [s.image() for s in pack.val]
        self.spec = training_spec(width=cfg.width, height=cfg.height)
        cfg.out.mkdir(parents=True, exist_ok=True)
        if cfg.resume and (cfg.out / "last.pt").is_file():
            self._resume(cfg.out / "last.pt")

    def _resume(self, path: Path) -> None:
        ck = torch.load(path, map_location=self.device, weights_only=False)
        self.net.load_state_dict(ck["model"])
        self.ema.load_state_dict(ck["ema"])
        self.opt.load_state_dict(ck["opt"])
        self.state = TrainState(**ck["state"])
        print(f"resumed from {path}: step {self.state.step}, {self.state.elapsed_s:.0f} s trained")

    def loader(self) -> DataLoader[Any]:
        """Augmenting loader over split_train."""
        ds = SceneDataset(
            self.pack,
            width=self.cfg.width,
            height=self.cfg.height,
            cfg=self.cfg.augment,
            length=len(self.pack.train) * self.cfg.epoch_repeat,
            seed=self.cfg.seed,
        )
        workers = self.cfg.workers
        return DataLoader(
            ds,
            batch_size=self.cfg.batch,
            shuffle=True,
            drop_last=True,
            collate_fn=collate,
            num_workers=workers,
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=_quiet_worker,
        )

    def progress(self, batch_in_epoch: int, batches: int) -> float:
        """Fraction done: the larger of epochs done and time used."""
        by_epoch = (self.state.epoch + batch_in_epoch / max(batches, 1)) / self.cfg.epochs
        budget = self.cfg.time_budget_min * 60
        return min(1.0, max(by_epoch, self.state.elapsed_s / budget if budget else 0.0))

    def step(self, batch: dict[str, torch.Tensor], lr: float) -> tuple[float, float]:
        """One optimisation step; returns (classification, box) loss."""
        for group in self.opt.param_groups:
            group["lr"] = lr
        images = batch["images"].to(self.device, non_blocking=True)
        gt_boxes = batch["boxes"].to(self.device, non_blocking=True)
        gt_labels = batch["labels"].to(self.device, non_blocking=True)
        labels, target = match(gt_boxes, gt_labels, self.priors, self.cfg.iou_threshold)
        use_bf16 = self.device.type == "cuda"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits, offsets = self.net(to_input(images))
        cls, box = multibox_loss(
            logits,
            offsets,
            labels,
            target,
            neg_ratio=self.cfg.neg_ratio,
            class_weights=self.class_weights,
        )
        if self.teacher is not None:  # the logged cls loss then includes the distillation term
            cls = cls + self.cfg.kd_weight * self._distill(images, logits, labels)
        self.opt.zero_grad(set_to_none=True)
        (cls + box).backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 10.0)
        self.opt.step()
        decay = min(self.cfg.ema_decay, (1 + self.state.step) / (10 + self.state.step))
        ema_update(self.ema, self.net, decay)
        self.state.step += 1
        return float(cls.detach()), float(box.detach())

    def _distill(
        self, images: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """The teacher's class scores on the same images, distilled into the student over the
        positives, the hard negatives and wherever the teacher sees a face; per positive."""
        assert self.teacher is not None
        with torch.no_grad():
            t_logits, _ = self.teacher(to_input(images))
            face = 1.0 - F.softmax(t_logits.float(), dim=-1)[..., 0]
        keep = hard_negatives(logits, labels, self.cfg.neg_ratio) | (face > self.cfg.kd_min_score)
        n_pos = (labels > 0).sum().clamp(min=1).float()
        return distill_loss(logits, t_logits, keep, self.cfg.kd_temp) / n_pos

    def validate(self) -> dict[str, float]:
        """AP50 of the EMA weights on split_val; keeps best.pt."""
        deploy = Deployable(self.ema, self.cfg.width, self.cfg.height).to(self.device)
        ap = val_ap50(deploy, self.pack.val, self.val_images, self.spec, self.device)
        score = float(np.nanmean([ap["mask"], ap["no_mask"]]))
        self.state.history.append(
            {"step": self.state.step, "elapsed_s": round(self.state.elapsed_s, 1), **ap}
        )
        if score > self.state.best_score:
            self.state.best_score, self.state.best_ap = score, ap
            save_checkpoint(
                self.cfg.out / "best.pt",
                ema=self.ema.state_dict(),
                ap=ap,
                step=self.state.step,
                config=_plain(self.cfg),
            )
        return ap

    def checkpoint(self) -> None:
        """last.pt: everything needed to resume."""
        if not self.cfg.save_last:
            return
        save_checkpoint(
            self.cfg.out / "last.pt",
            model=self.net.state_dict(),
            ema=self.ema.state_dict(),
            opt=self.opt.state_dict(),
            state=asdict(self.state),
            config=_plain(self.cfg),
        )

    def run(self) -> Path:
        """Train; returns the path of the best checkpoint (by mean val AP50)."""
        loader = self.loader()
        budget = self.cfg.time_budget_min * 60
        last_log = last_val = time.monotonic()
        seen, losses = 0, [float("nan"), float("nan")]
        done = False
        while not done and self.state.epoch < self.cfg.epochs:
            self.net.train()
            tick = time.monotonic()
            for i, batch in enumerate(loader):
                lr = lr_at(self.progress(i, len(loader)), self.cfg)
                cls, box = self.step(batch, lr)
                now = time.monotonic()
                self.state.elapsed_s += now - tick
                tick = now
                seen += len(batch["images"])
                losses = [_smooth(losses[0], cls), _smooth(losses[1], box)]
                if now - last_log >= self.cfg.log_every_s:
                    self._log(i, len(loader), lr, losses, seen / (now - last_log))
                    last_log, seen = now, 0
                if now - last_val >= self.cfg.val_every_s:
                    print(f"  val AP50 {_fmt(self.validate())}", flush=True)
                    last_val = time.monotonic()  # validation time counts against the budget
                if budget and self.state.elapsed_s >= budget:
                    done = True
                    break
            self.state.epoch += 1
            self.checkpoint()
        print(f"  val AP50 {_fmt(self.validate())} (final)", flush=True)
        self.checkpoint()
        return self.cfg.out / "best.pt"

    def _log(self, i: int, batches: int, lr: float, losses: list[float], rate: float) -> None:
        p = self.progress(i, batches)
        best = _fmt(self.state.best_ap) if self.state.best_ap else "-"
        print(
            f"[{p * 100:5.1f}%] epoch {self.state.epoch + 1} batch {i + 1}/{batches} "
            f"step {self.state.step} t={self.state.elapsed_s:.0f}s loss cls {losses[0]:.3f} "
            f"box {losses[1]:.3f} lr {lr:.2e} {rate:.0f} img/s | best val {best}",
            flush=True,
        )


def load_teacher(path: str, device: torch.device) -> torch.nn.Module:
    """A frozen network from a checkpoint (best.pt / last.pt: its EMA weights and arch) or a
    v1 state_dict, for distillation."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    arch, state = "v1", ck
    if isinstance(ck, dict) and "ema" in ck:
        arch, state = ck.get("config", {}).get("arch", "v1"), ck["ema"]
    net = build_net(arch)
    net.load_state_dict(state)
    net.eval().to(device)
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _quiet_worker(_: int) -> None:
    """One OpenCV thread per loader process: the processes already use every core."""
    import cv2

    cv2.setNumThreads(1)


def _smooth(average: float, value: float) -> float:
    return value if math.isnan(average) else 0.9 * average + 0.1 * value


def _fmt(ap: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.3f}" for k, v in ap.items())


def _plain(cfg: TrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["out"] = str(cfg.out)
    return d
