"""Anchors, box coding and the network's output layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (the optional `train` extra)")

from models.train.net import (  # noqa: E402
    ANCHOR_SIZES,
    ARCHS,
    LABELS,
    Deployable,
    SiagaNet,
    build_net,
    decode_boxes,
    encode_boxes,
    feature_sizes,
    make_priors,
)


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (640, 480, [(80, 60), (40, 30), (20, 15), (10, 8)]),
        (320, 240, [(40, 30), (20, 15), (10, 8), (5, 4)]),
        (160, 120, [(20, 15), (10, 8), (5, 4), (3, 2)]),
    ],
)
def test_feature_sizes(width: int, height: int, expected: list[tuple[int, int]]) -> None:
    assert feature_sizes(width, height) == expected


def test_priors_count_and_order() -> None:
    priors = make_priors(640, 480)
    assert priors.shape == (80 * 60 * 3 + 40 * 30 * 2 + 20 * 15 * 2 + 10 * 8 * 3, 4)
    assert priors.shape[0] == 17640
    # First cell, first three anchors: centre of cell (0, 0), sizes 10, 16, 24 px.
    first = priors[:3]
    assert torch.allclose(first[:, 0], torch.full((3,), 4 / 640))
    assert torch.allclose(first[:, 2] * 640, torch.tensor([10.0, 16.0, 24.0]))
    # Next cell to the right.
    assert torch.isclose(priors[3, 0], torch.tensor(12 / 640))
    assert priors.min() >= 0 and priors.max() <= 1


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_priors_match_network_outputs(arch: str) -> None:
    net = build_net(arch).eval()
    with torch.no_grad():
        logits, offsets = net(torch.zeros(1, 3, 120, 160))
    assert logits.shape == (1, make_priors(160, 120).shape[0], len(LABELS))
    assert offsets.shape[1] == logits.shape[1]
    assert len(ANCHOR_SIZES) == 4


def test_unknown_architecture_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown architecture 'v9'.*v1, v2"):
        build_net("v9")


def test_v2_is_dense_and_v1_keeps_ultraface_keys() -> None:
    v2 = build_net("v2")
    convs = [m for m in v2.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.groups == 1 for c in convs)
    assert all(c.out_channels % 16 == 0 for c in convs[:-8])  # backbone widths suit INT8 kernels
    assert isinstance(build_net("v1"), SiagaNet)
    assert "base_net.7.branch0.0.conv.weight" in build_net("v1").state_dict()


def test_encode_decode_round_trip() -> None:
    priors = make_priors(160, 120)
    boxes = torch.rand(len(priors), 2) * 0.5
    boxes = torch.cat([boxes, boxes + 0.05 + torch.rand(len(priors), 2) * 0.4], 1)
    again = decode_boxes(encode_boxes(boxes, priors), priors)
    assert torch.allclose(again, boxes, atol=1e-5)


def test_deployable_outputs_probabilities() -> None:
    model = Deployable(SiagaNet(), 160, 120).eval()
    with torch.no_grad():
        scores, boxes = model(torch.randn(2, 3, 120, 160))
    assert scores.shape[0] == 2 and boxes.shape[-1] == 4
    assert torch.allclose(scores.sum(-1), torch.ones(scores.shape[:2]), atol=1e-5)


def test_pretrained_weights_reproduce_reference_onnx(shared: Path) -> None:
    """The start weights load key for key and give the reference export's outputs."""
    ort = pytest.importorskip("onnxruntime")
    pth = shared / "models" / "ultraface_masked_rfb_640.pth"
    onnx_path = shared / "models" / "ultraface_masked_rfb_640.onnx"
    if not pth.is_file() or not onnx_path.is_file():
        pytest.skip("UltraFace RFB-640 masked-face weights not in the shared folder")
    net = SiagaNet()
    net.load_state_dict(torch.load(pth, map_location="cpu", weights_only=True))
    model = Deployable(net, 640, 480).eval()
    x = np.random.default_rng(0).normal(0, 0.5, (1, 3, 480, 640)).astype(np.float32)
    ref_scores, ref_boxes = ort.InferenceSession(str(onnx_path)).run(
        ["scores", "boxes"], {"input": x}
    )
    with torch.no_grad():
        scores, boxes = model(torch.from_numpy(x))
    np.testing.assert_allclose(scores.numpy(), ref_scores, atol=1e-4)
    np.testing.assert_allclose(boxes.numpy(), ref_boxes, atol=1e-4)
