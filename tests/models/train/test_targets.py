"""Anchor matching and the multibox loss."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (the optional `train` extra)")

from models.train.net import make_priors  # noqa: E402
from models.train.targets import (  # noqa: E402
    box_iou,
    cxcywh_to_xyxy,
    distill_loss,
    hard_negatives,
    match,
    multibox_loss,
)

PRIORS = make_priors(160, 120)


def _batch(boxes: list[list[list[float]]], labels: list[list[int]]) -> tuple[Any, Any]:
    most = max(len(b) for b in boxes) or 1
    gb = torch.zeros(len(boxes), most, 4)
    gl = torch.zeros(len(boxes), most, dtype=torch.int64)
    for i, (b, lab) in enumerate(zip(boxes, labels, strict=True)):
        if b:
            gb[i, : len(b)] = torch.tensor(b)
            gl[i, : len(b)] = torch.tensor(lab)
    return gb, gl


def test_box_iou_identity_and_disjoint() -> None:
    a = torch.tensor([[0.0, 0.0, 0.5, 0.5]])
    b = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]])
    iou = box_iou(a, b)
    assert torch.allclose(iou, torch.tensor([[1.0, 0.0]]))


def test_box_equal_to_a_prior_is_matched_to_it() -> None:
    k = 500
    box = cxcywh_to_xyxy(PRIORS[k : k + 1])[0].tolist()
    gb, gl = _batch([[box]], [[2]])
    labels, offsets = match(gb, gl, PRIORS, 0.35)
    assert labels[0, k] == 2
    assert torch.allclose(offsets[0, k], torch.zeros(4), atol=1e-4)
    assert (labels[0] > 0).sum() >= 1


def test_tiny_box_still_gets_one_positive() -> None:
    gb, gl = _batch([[[0.50, 0.50, 0.51, 0.51]]], [[1]])
    labels, _ = match(gb, gl, PRIORS, 0.35)
    assert int((labels[0] == 1).sum()) == 1


def test_padding_rows_and_empty_images_are_background() -> None:
    gb, gl = _batch([[[0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.8, 0.8]], []], [[2, 1], []])
    labels, _ = match(gb, gl, PRIORS, 0.35)
    assert labels.shape == (2, len(PRIORS))
    assert set(labels[0].unique().tolist()) == {0, 1, 2}
    assert int(labels[1].sum()) == 0


def test_hard_negatives_keep_three_per_positive() -> None:
    labels = torch.zeros(1, len(PRIORS), dtype=torch.int64)
    labels[0, :5] = 2
    logits = torch.randn(1, len(PRIORS), 3)
    keep = hard_negatives(logits, labels, ratio=3)
    assert int(keep.sum()) == 5 + 15
    assert bool(keep[0, :5].all())


def test_loss_is_finite_and_backpropagates() -> None:
    gb, gl = _batch([[[0.1, 0.1, 0.3, 0.3]]], [[2]])
    labels, target = match(gb, gl, PRIORS, 0.35)
    logits = torch.randn(1, len(PRIORS), 3, requires_grad=True)
    offsets = torch.randn(1, len(PRIORS), 4, requires_grad=True)
    cls, box = multibox_loss(logits, offsets, labels, target)
    (cls + box).backward()
    assert torch.isfinite(cls) and torch.isfinite(box)
    assert logits.grad is not None and offsets.grad is not None


def test_distill_loss_is_zero_for_the_teacher_itself_and_pulls_towards_it() -> None:
    teacher = torch.randn(2, len(PRIORS), 3)
    keep = torch.zeros(2, len(PRIORS), dtype=torch.bool)
    keep[:, :50] = True
    assert float(distill_loss(teacher.clone(), teacher, keep, temp=2.0)) < 1e-5
    student = torch.randn(2, len(PRIORS), 3, requires_grad=True)
    loss = distill_loss(student, teacher, keep, temp=2.0)
    loss.backward()
    assert float(loss.detach()) > 0 and student.grad is not None
    assert float(student.grad[:, 50:].abs().sum()) == 0  # priors not kept are left alone
    with torch.no_grad():  # a small step along the gradient brings the student closer
        closer = student - 0.1 * student.grad
    assert float(distill_loss(closer, teacher, keep, temp=2.0)) < float(loss.detach())
