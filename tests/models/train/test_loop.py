"""The training loop's distillation: a teacher checkpoint is loaded frozen and steers a step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (the optional `train` extra)")

from models.train.data import DataPack, Scene, encode_jpeg  # noqa: E402
from models.train.dataset import collate  # noqa: E402
from models.train.loop import TrainConfig, Trainer, load_teacher, save_checkpoint  # noqa: E402
from models.train.net import build_net  # noqa: E402
from models.voc import parse_voc  # noqa: E402

VOC = """<annotation><size><width>64</width><height>48</height></size>
<object><name>without_mask</name><bndbox><xmin>10</xmin><ymin>10</ymin><xmax>30</xmax><ymax>30</ymax></bndbox></object>
</annotation>"""


def tiny_pack(tmp_path: Path) -> DataPack:
    xml = tmp_path / "s.xml"
    xml.write_text(VOC)
    rng = np.random.default_rng(0)
    scene = Scene("s", encode_jpeg(rng.integers(0, 255, (48, 64, 3), np.uint8)), parse_voc(xml))
    return DataPack(train=[scene], val=[scene])


def test_teacher_checkpoint_is_loaded_frozen_with_its_architecture(tmp_path: Path) -> None:
    net = build_net("v1")
    save_checkpoint(tmp_path / "best.pt", ema=net.state_dict(), config={"arch": "v1"})
    teacher = load_teacher(str(tmp_path / "best.pt"), torch.device("cpu"))
    assert type(teacher) is type(net) and not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())
    x = torch.rand(1, 3, 96, 128)
    assert torch.equal(teacher(x)[0], net.eval()(x)[0])


def test_a_distilled_step_adds_the_teacher_term(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "t.pt", ema=build_net("v1").state_dict(), config={"arch": "v1"})
    pack = tiny_pack(tmp_path)
    img = pack.train[0].image()
    batch = collate([(img, np.array([[10.0, 10.0, 30.0, 30.0]]), np.array([1]))])
    losses = {}
    for name, teacher in (("plain", ""), ("kd", str(tmp_path / "t.pt"))):
        torch.manual_seed(0)
        cfg = TrainConfig(out=tmp_path / name, arch="v2", width=64, height=48, batch=1,
                          device="cpu", workers=0, teacher=teacher, kd_weight=1.0)  # fmt: skip
        trainer = Trainer(cfg, pack)
        assert (trainer.teacher is not None) == bool(teacher)
        losses[name] = trainer.step(batch, lr=1e-3)
    assert all(np.isfinite(v) for pair in losses.values() for v in pair)
    assert losses["kd"][0] > losses["plain"][0]  # same start, plus a positive KL term
    assert losses["kd"][1] == pytest.approx(losses["plain"][1])  # the box loss is untouched
