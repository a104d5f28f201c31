"""VOC reading, crop face boxes and pack files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="torch is not installed (the optional `train` extra)")

from models.train.data import (
    MASK_ID,
    NO_MASK_ID,
    Crop,
    DataPack,
    Scene,
    crop_box,
    encode_jpeg,
    load_pack,
    load_scenes,
    save_pack,
)
from models.voc import parse_voc

VOC = """<annotation><size><width>100</width><height>80</height></size>
<object><name>with_mask</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>11</xmax><ymax>12</ymax></bndbox></object>
<object><name>mask_weared_incorrect</name><bndbox><xmin>20</xmin><ymin>20</ymin><xmax>30</xmax><ymax>30</ymax></bndbox></object>
<object><name>without_mask</name><bndbox><xmin>5</xmin><ymin>5</ymin><xmax>5</xmax><ymax>9</ymax></bndbox></object>
</annotation>"""


def test_incorrectly_worn_masks_train_as_no_mask(tmp_path: Path) -> None:
    xml = tmp_path / "a.xml"
    xml.write_text(VOC)
    scene = Scene("a", b"", parse_voc(xml))
    assert scene.labels().tolist() == [MASK_ID, NO_MASK_ID, NO_MASK_ID]
    assert scene.truth.ignore.tolist() == [False, True, False]  # the evaluator ignores it
    assert scene.boxes.shape == (3, 4)


def test_test_split_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split_test"):
        load_scenes(tmp_path, "test")


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (None, None),  # no face seen: crop dropped
        ((10.0, 10.0, 90.0, 90.0), (0.0, 0.0, 100.0, 100.0)),  # face fills the crop
        ((40.0, 10.0, 60.0, 35.0), (40.0, 10.0, 60.0, 35.0)),  # crop shows more: face box
        ((50.0, 50.0, 53.0, 53.0), None),  # face too small to use
    ],
)
def test_crop_box(
    found: tuple[float, float, float, float] | None,
    expected: tuple[float, float, float, float] | None,
) -> None:
    img = np.zeros((100, 100, 3), np.uint8)
    assert crop_box(img, lambda _: found) == expected
    assert crop_box(img, None) == (0.0, 0.0, 100.0, 100.0)


def test_pack_round_trip(tmp_path: Path) -> None:
    img = np.full((20, 30, 3), 128, np.uint8)
    xml = tmp_path / "s.xml"
    xml.write_text(VOC)
    pack = DataPack(
        train=[Scene("s", encode_jpeg(img), parse_voc(xml))],
        crops=[Crop(encode_jpeg(img), MASK_ID, (0.0, 0.0, 30.0, 20.0))],
        init_weights={"w": np.ones(3, np.float32)},
    )
    save_pack(pack, tmp_path / "p.pkl")
    again = load_pack(tmp_path / "p.pkl")
    assert again.train[0].image().shape == (20, 30, 3)
    assert again.train[0].labels().tolist() == [MASK_ID, NO_MASK_ID, NO_MASK_ID]
    assert again.crops[0].box == (0.0, 0.0, 30.0, 20.0)
    assert again.init_weights["w"].tolist() == [1, 1, 1]
