"""Torch dataset: decoded scenes and crops in memory, one augmented training image per item."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from models.train import augment as aug
from models.train.data import DataPack, decode_jpeg

Sample = tuple[np.ndarray, np.ndarray, np.ndarray]


def compose(
    rng: np.random.Generator,
    scenes: list[Sample],
    crops: list[tuple[np.ndarray, int, np.ndarray]],
    index: int,
    *,
    out_w: int,
    out_h: int,
    cfg: aug.AugmentConfig,
) -> Sample:
    """One training image: view or mosaic, pasted crops, flip, photometric steps."""
    if rng.random() < cfg.mosaic_p:
        picks = [index, *rng.integers(0, len(scenes), 3).tolist()]
        image, boxes, labels = aug.mosaic(
            rng, [scenes[i] for i in picks], out_w=out_w, out_h=out_h, cfg=cfg
        )
    else:
        img, b, lab = scenes[index]
        image, boxes, labels = aug.random_view(rng, img, b, lab, out_w=out_w, out_h=out_h, cfg=cfg)
    if crops and rng.random() < cfg.paste_p:
        chosen = [
            crops[i] for i in rng.integers(0, len(crops), int(rng.integers(1, cfg.paste_max + 1)))
        ]
        image, boxes, labels = aug.paste_crops(rng, image, boxes, labels, chosen, cfg)
    if rng.random() < cfg.flip_p:
        image, boxes = aug.flip(image, boxes)
    return aug.photometric(rng, image, cfg), boxes, labels


class SceneDataset(Dataset[Sample]):
    """Augmented scenes at a fixed output size; `length` items make one epoch."""

    def __init__(
        self,
        pack: DataPack,
        *,
        width: int,
        height: int,
        cfg: aug.AugmentConfig,
        length: int | None = None,
        seed: int = 0,
    ) -> None:
        self.scenes: list[Sample] = [(s.image(), s.boxes, s.labels()) for s in pack.train]
        self.crops = [
            (decode_jpeg(c.jpeg), c.label, np.asarray(c.box, np.float32)) for c in pack.crops
        ]
        self.width, self.height, self.cfg = width, height, cfg
        self.length = length or len(self.scenes)
        self.seed = seed
        self._rng: np.random.Generator | None = None

    def __len__(self) -> int:
        return self.length

    def rng(self) -> np.random.Generator:
        """Per-worker generator (workers get distinct torch seeds every epoch)."""
        if self._rng is None:
            info = get_worker_info()
            self._rng = np.random.default_rng(info.seed if info else self.seed)
        return self._rng

    def __getitem__(self, index: int) -> Sample:
        rng = self.rng()
        return compose(
            rng,
            self.scenes,
            self.crops,
            index % len(self.scenes),
            out_w=self.width,
            out_h=self.height,
            cfg=self.cfg,
        )


def collate(batch: list[Sample]) -> dict[str, torch.Tensor]:
    """Stack images (uint8 NHWC) and pad boxes (normalised xyxy) and labels (0 = padding)."""
    h, w = batch[0][0].shape[:2]
    most = max(1, max(len(b) for _, b, _ in batch))
    boxes = torch.zeros(len(batch), most, 4)
    labels = torch.zeros(len(batch), most, dtype=torch.int64)
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    for i, (_, b, lab) in enumerate(batch):
        if len(b):
            boxes[i, : len(b)] = torch.from_numpy(np.asarray(b, np.float32)) / scale
            labels[i, : len(b)] = torch.from_numpy(np.asarray(lab, np.int64))
    images = torch.from_numpy(np.stack([img for img, _, _ in batch]))
    return {"images": images, "boxes": boxes, "labels": labels}


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC BGR → float NCHW RGB, (x - 127) / 128 (the manifest's preprocessing)."""
    x = images.permute(0, 3, 1, 2).flip(1).float()
    return (x - 127.0) / 128.0
