from pathlib import Path

import pytest

from models.detections import MASK, NO_MASK
from models.voc import AnnotationError, parse_voc, read_split

XML = """<annotation><filename>a.jpg</filename><size><width>64</width><height>48</height></size>
<object><name>with_mask</name><difficult>0</difficult>
<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>11</xmax><ymax>12</ymax></bndbox></object>
<object><name>without_mask</name>
<bndbox><xmin>20</xmin><ymin>2</ymin><xmax>30</xmax><ymax>12</ymax></bndbox></object>
<object><name>mask_weared_incorrect</name>
<bndbox><xmin>40</xmin><ymin>2</ymin><xmax>50</xmax><ymax>12</ymax></bndbox></object>
<object><name>with_mask</name><difficult>1</difficult>
<bndbox><xmin>1</xmin><ymin>30</ymin><xmax>11</xmax><ymax>40</ymax></bndbox></object>
</annotation>"""


def test_parse_voc_labels_and_ignores(tmp_path: Path):
    f = tmp_path / "a.xml"
    f.write_text(XML)
    gt = parse_voc(f)
    assert (gt.image, gt.width, gt.height) == ("a.jpg", 64, 48)
    assert gt.labels.tolist() == [MASK, NO_MASK, -1, MASK]
    assert gt.ignore.tolist() == [False, False, True, True]
    assert gt.boxes[1].tolist() == [20, 2, 30, 12]
    assert gt.count(MASK) == 1 and gt.count(NO_MASK) == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<annotation><object><name>cat</name></object></annotation>", "unknown label"),
        ("<annotation><object><name>with_mask</name></object></annotation>", "no bndbox"),
        ("<annotation><object>", "cannot parse"),
    ],
)
def test_parse_voc_errors_name_file_and_reason(tmp_path: Path, text: str, reason: str):
    f = tmp_path / "bad.xml"
    f.write_text(text)
    with pytest.raises(AnnotationError, match=reason) as info:
        parse_voc(f)
    assert "bad.xml" in str(info.value)


def test_read_split_skips_blanks_and_comments(tmp_path: Path):
    f = tmp_path / "s.txt"
    f.write_text("# test\na\n\n b \n")
    assert read_split(f) == ["a", "b"]


def test_real_annotations_counts(andrewmvd: Path):
    gt = parse_voc(andrewmvd / "annotations" / "maksssksksss0.xml")
    assert gt.count(MASK) == 1 and gt.count(NO_MASK) == 2
