"""Validation-time AP50 of a torch model, decoded exactly as the deployed adapter decodes."""

from __future__ import annotations

import numpy as np
import torch

from models.adapters.base import label_columns, select
from models.detections import MASK, NO_MASK, Detections
from models.evaluate import EVAL_CONF, ImageResult, class_ap
from models.preprocess import fit, to_tensor
from models.spec import ModelSpec
from models.train.data import Scene
from models.train.export import MEAN, STD
from models.train.net import Deployable


@torch.no_grad()
def predict(
    model: Deployable, images: list[np.ndarray], spec: ModelSpec, device: torch.device
) -> list[Detections]:
    """Detections (original pixels) at the evaluation floor, one image at a time."""
    assert spec.input_width and spec.input_height
    w, h = spec.input_width, spec.input_height
    columns = label_columns(spec.labels)
    out: list[Detections] = []
    for image in images:
        resized, transform = fit(image, width=w, height=h, mode=spec.resize)
        x = to_tensor(resized, color=spec.color, mean=MEAN, std=STD)
        scores, boxes = model(torch.from_numpy(x).to(device))
        px = boxes[0].float().cpu().numpy() * np.array([w, h, w, h], np.float32)
        out.append(
            select(
                px,
                scores[0].float().cpu().numpy(),
                columns,
                spec=spec,
                conf=EVAL_CONF,
                transform=transform,
            )
        )
    return out


def val_ap50(
    model: Deployable,
    scenes: list[Scene],
    images: list[np.ndarray],
    spec: ModelSpec,
    device: torch.device,
) -> dict[str, float]:
    """mask and no_mask AP50 over the validation scenes."""
    was_training = model.training
    model.eval()
    dets = predict(model, images, spec, device)
    model.train(was_training)
    results = [ImageResult(s.truth, d, 0.0) for s, d in zip(scenes, dets, strict=True)]
    return {
        "mask": class_ap(results, label=MASK, iou_threshold=0.5),
        "no_mask": class_ap(results, label=NO_MASK, iou_threshold=0.5),
    }
