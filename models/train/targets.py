"""Anchor matching and the multibox loss (cross-entropy with hard negatives + smooth L1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.train.net import encode_boxes


def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) → (x1, y1, x2, y2)."""
    return torch.cat([b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2], dim=-1)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of xyxy boxes a (..., M, 4) against b (A, 4) → (..., M, A)."""
    lt = torch.maximum(a[..., :, None, :2], b[None, :, :2])
    rb = torch.minimum(a[..., :, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[..., :, None] + area_b[None, :] - inter).clamp(min=1e-9)


def match(
    gt_boxes: torch.Tensor, gt_labels: torch.Tensor, priors: torch.Tensor, iou_threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Assign every prior a class (0 = background) and box offsets, for a padded batch.

    gt_boxes (B, M, 4) normalised xyxy, gt_labels (B, M) with 0 marking padding, priors (A, 4)
    cxcywh. A prior takes its best-overlapping box when IoU >= threshold; each real box also
    claims its own best prior, so that tiny faces still get one positive.
    """
    batch, most = gt_labels.shape
    valid = gt_labels > 0
    iou = box_iou(gt_boxes, cxcywh_to_xyxy(priors))  # (B, M, A)
    iou = torch.where(valid[..., None], iou, torch.full_like(iou, -1.0))
    best_iou, best_gt = iou.max(dim=1)  # per prior (B, A)
    best_prior = iou.argmax(dim=2)  # per box (B, M)
    # Force each real box onto its best prior; padding rows write into a dummy column.
    target_col = torch.where(valid, best_prior, torch.full_like(best_prior, priors.shape[0]))
    forced_iou = torch.cat([best_iou, best_iou.new_zeros(batch, 1)], 1)
    forced_gt = torch.cat([best_gt, best_gt.new_zeros(batch, 1)], 1)
    forced_iou.scatter_(1, target_col, 2.0)
    order = torch.arange(most, device=gt_labels.device).expand(batch, most)
    forced_gt.scatter_(1, target_col, order)
    best_iou, best_gt = forced_iou[:, :-1], forced_gt[:, :-1]
    labels = gt_labels.gather(1, best_gt)
    labels = torch.where(best_iou < iou_threshold, torch.zeros_like(labels), labels)
    matched = gt_boxes.gather(1, best_gt[..., None].expand(-1, -1, 4))
    return labels, encode_boxes(matched, priors)


def hard_negatives(logits: torch.Tensor, labels: torch.Tensor, ratio: int) -> torch.Tensor:
    """Mask of positives plus the `ratio` x as many highest-loss background priors per image."""
    with torch.no_grad():
        bg_loss = -F.log_softmax(logits.float(), dim=-1)[..., 0]
        pos = labels > 0
        bg_loss = bg_loss.masked_fill(pos, -float("inf"))
        rank = bg_loss.argsort(dim=1, descending=True).argsort(dim=1)
        n_neg = (pos.sum(1, keepdim=True) * ratio).clamp(min=ratio * 4)
        return pos | (rank < n_neg)


def multibox_loss(
    logits: torch.Tensor,
    offsets: torch.Tensor,
    labels: torch.Tensor,
    target_offsets: torch.Tensor,
    *,
    neg_ratio: int = 3,
    class_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(classification loss, box loss), both normalised by the number of positives."""
    keep = hard_negatives(logits, labels, neg_ratio)
    pos = labels > 0
    n_pos = pos.sum().clamp(min=1).float()
    cls = F.cross_entropy(logits[keep].float(), labels[keep], weight=class_weights, reduction="sum")
    box = F.smooth_l1_loss(offsets[pos].float(), target_offsets[pos], reduction="sum")
    return cls / n_pos, box / n_pos


def distill_loss(
    student: torch.Tensor, teacher: torch.Tensor, keep: torch.Tensor, temp: float
) -> torch.Tensor:
    """Knowledge distillation of the class scores: KL(teacher || student) of the softened
    distributions (temperature temp) over the kept priors, summed, times temp² (so that its
    gradients keep their size whatever the temperature)."""
    s = F.log_softmax(student[keep].float() / temp, dim=-1)
    t = F.softmax(teacher[keep].float() / temp, dim=-1)
    return F.kl_div(s, t, reduction="sum") * temp * temp
