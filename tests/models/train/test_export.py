"""ONNX export round trip, the adapter contract, and INT8 quantisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (the optional `train` extra)")

from models.detector import load_detector  # noqa: E402
from models.train.export import export_onnx, manifest_entry, spec_for, write_sidecar  # noqa: E402
from models.train.net import Deployable, SiagaNet  # noqa: E402
from models.train.quantise import body_nodes, quantise  # noqa: E402

ort = pytest.importorskip("onnxruntime")
W, H = 160, 120


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[SiagaNet, Path]:
    torch.manual_seed(0)
    net = SiagaNet().eval()
    path = export_onnx(net, tmp_path_factory.mktemp("onnx") / "tiny.onnx", width=W, height=H)
    write_sidecar(path, "tiny", manifest_entry(path, width=W, height=H))
    return net, path


def test_onnx_matches_torch_with_dynamic_batch(exported: tuple[SiagaNet, Path]) -> None:
    net, path = exported
    x = np.random.default_rng(0).normal(0, 0.5, (2, 3, H, W)).astype(np.float32)
    scores, boxes = ort.InferenceSession(str(path)).run(["scores", "boxes"], {"input": x})
    with torch.no_grad():
        t_scores, t_boxes = Deployable(net, W, H).eval()(torch.from_numpy(x))
    np.testing.assert_allclose(scores, t_scores.numpy(), atol=1e-5)
    np.testing.assert_allclose(boxes, t_boxes.numpy(), atol=1e-5)


def test_manifest_entry_validates_and_loads_through_the_adapter(
    exported: tuple[SiagaNet, Path],
) -> None:
    _, path = exported
    spec = spec_for("tiny", manifest_entry(path, width=W, height=H))
    assert spec.adapter == "ultraface" and spec.labels == ["background", "no_mask", "mask"]
    detector = load_detector(str(path))
    image = np.random.default_rng(1).integers(0, 256, (90, 140, 3)).astype(np.uint8)
    dets = detector.detect(image, conf=0.0)
    assert len(dets.boxes) > 0
    assert dets.boxes[:, 2].max() <= 140 and dets.boxes[:, 3].max() <= 90


def test_quantised_model_keeps_stem_and_decoding_float(
    exported: tuple[SiagaNet, Path], tmp_path: Path
) -> None:
    import onnx

    _, path = exported
    images = [
        np.random.default_rng(k).integers(0, 256, (H, W, 3)).astype(np.uint8) for k in range(4)
    ]
    out = quantise(path, tmp_path / "tiny_int8.onnx", images, width=W, height=H, method="minmax")
    model = onnx.load(str(out))
    ops = {n.op_type for n in model.graph.node}
    assert "QuantizeLinear" in ops and "Softmax" in ops and "Exp" in ops
    inside, _ = body_nodes(onnx.load(str(path)))
    assert inside and not any(n.startswith("/net/base_net.0/") for n in inside)
    x = images[0].transpose(2, 0, 1)[None].astype(np.float32) / 128 - 1
    scores, _ = ort.InferenceSession(str(out)).run(["scores", "boxes"], {"input": x})
    assert np.allclose(scores.sum(-1), 1.0, atol=1e-4)


def test_export_both_builds_the_checkpoints_architecture(tmp_path: Path) -> None:
    """A v2 checkpoint exports as v2 (plain convolutions) with its own provenance line."""
    import onnx

    from models.train.finish import export_both
    from models.train.net import SiagaNetV2

    torch.manual_seed(0)
    net = SiagaNetV2().eval()
    best = tmp_path / "best.pt"
    torch.save({"ema": net.state_dict(), "config": {"arch": "v2"}}, best)
    images = [
        np.random.default_rng(k).integers(0, 256, (H, W, 3)).astype(np.uint8) for k in range(2)
    ]
    float_path, int8_path = export_both(best, tmp_path, "tiny_v2", images, width=W, height=H)
    convs = [n for n in onnx.load(str(float_path)).graph.node if n.op_type == "Conv"]
    groups = [a.i for n in convs for a in n.attribute if a.name == "group"]
    assert convs and all(g == 1 for g in groups)  # no depthwise layer left for INT8 to stall on
    sidecar = float_path.with_suffix(".toml").read_text()
    assert "random initialisation" in sidecar and "UltraFace" not in sidecar
    x = np.random.default_rng(2).normal(0, 0.5, (1, 3, H, W)).astype(np.float32)
    scores, _ = ort.InferenceSession(str(float_path)).run(["scores", "boxes"], {"input": x})
    with torch.no_grad():
        t_scores, _ = Deployable(net, W, H).eval()(torch.from_numpy(x))
    np.testing.assert_allclose(scores, t_scores.numpy(), atol=1e-5)
    assert int8_path.is_file() and int8_path.with_suffix(".toml").is_file()
