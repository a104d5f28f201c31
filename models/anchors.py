"""SSD anchor generation (AIZOO face-mask contract)."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from models.family import Options


class SsdAnchors(Options):
    """Anchor grid of a single-stage SSD (all values normalised to the input size): the
    `ssd_anchor` family's options, the manifest's [models.NAME.anchors] table."""

    feature_maps: list[int] = Field(min_length=1)
    sizes: list[list[float]] = Field(min_length=1)
    ratios: list[float] = Field(min_length=1)
    variances: tuple[float, float, float, float] = (0.1, 0.1, 0.2, 0.2)

    @model_validator(mode="after")
    def _levels_match(self) -> SsdAnchors:
        if len(self.sizes) != len(self.feature_maps):
            raise ValueError("anchors.sizes needs one list of sizes per feature map")
        return self


def generate_anchors(cfg: SsdAnchors) -> np.ndarray:
    """Normalised xyxy anchors, levels in order, each level row-major (y, x, anchor).

    Per cell: every size at the first ratio, then the first size at each further ratio.
    A ratio r is width / height: w = s * sqrt(r), h = s / sqrt(r).
    """
    levels = []
    for f, sizes in zip(cfg.feature_maps, cfg.sizes, strict=True):
        shapes = [(s, cfg.ratios[0]) for s in sizes] + [(sizes[0], r) for r in cfg.ratios[1:]]
        wh = np.array([(s * np.sqrt(r), s / np.sqrt(r)) for s, r in shapes], dtype=np.float32)
        centres = (np.arange(f, dtype=np.float32) + 0.5) / f
        cy, cx = np.meshgrid(centres, centres, indexing="ij")
        ctr = np.stack([cx, cy], axis=-1).reshape(-1, 1, 2)  # (f*f, 1, 2)
        half = wh[None] / 2  # (1, A, 2)
        levels.append(np.concatenate([ctr - half, ctr + half], axis=-1).reshape(-1, 4))
    return np.concatenate(levels).astype(np.float32)


def decode_offsets(
    loc: np.ndarray, anchors: np.ndarray, variances: tuple[float, float, float, float]
) -> np.ndarray:
    """SSD regression (dcx, dcy, dw, dh) against xyxy anchors → normalised xyxy boxes."""
    a_wh = anchors[:, 2:] - anchors[:, :2]
    a_ctr = (anchors[:, :2] + anchors[:, 2:]) / 2
    var = np.asarray(variances, dtype=np.float32)
    ctr = loc[:, :2] * var[:2] * a_wh + a_ctr
    wh = np.exp(loc[:, 2:] * var[2:]) * a_wh
    return np.concatenate([ctr - wh / 2, ctr + wh / 2], axis=1)
