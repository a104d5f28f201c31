"""Labels kept across serve sessions: round trip, placing them back, carrying the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from calibration.fit import Label
from calibration.label_store import StoredLabel, attach, labels_path, read_store, write_store


def test_round_trip_and_older_lines(tmp_path: Path) -> None:
    path = labels_path(tmp_path / "cam1.json")
    assert path.name == "cam1.json.labels.jsonl" and read_store(path) == []
    items = [
        StoredLabel(Label(0.9, "mask", "mask"), "a.jpg", (1.0, 2.0, 30.0, 40.0)),
        StoredLabel(Label(0.3, "no_mask", "not_a_face")),  # a line from `fit`'s format
    ]
    write_store(path, items)
    assert read_store(path) == items
    assert not path.with_name(path.name + ".tmp").exists()


def test_attach_places_matching_boxes_and_carries_the_rest() -> None:
    faces = [
        {"box": [1.0, 2.0, 30.0, 40.0], "predicted": "mask"},
        {"box": [50.0, 2.0, 80.0, 40.0], "predicted": "no_mask"},
    ]
    stored = [
        StoredLabel(Label(0.9, "mask", "mask"), "a.jpg", (1.4, 2.0, 30.0, 39.5)),  # within 1 px
        StoredLabel(
            Label(0.8, "mask", "no_mask"), "a.jpg", (50.0, 2.0, 80.0, 40.0)
        ),  # class differs
        StoredLabel(
            Label(0.7, "no_mask", "no_mask"), "b.jpg", (50.0, 2.0, 80.0, 40.0)
        ),  # other image
        StoredLabel(Label(0.6, "no_mask", "mask")),  # no place recorded
    ]
    placed, carried = attach(stored, [("a.jpg", faces)])
    assert placed == {(0, 0): "mask"}
    assert carried == stored[1:]


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('{"score": 0.5, "predicted": "hat", "truth": "mask"}', "predicted"),
        ('{"score": 0.5, "predicted": "mask", "truth": "mask", "image": "a", "box": [1]}', "box"),
        ("[1]", "object"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, needle: str) -> None:
    path = tmp_path / "x.labels.jsonl"
    path.write_text('{"score": 0.5, "predicted": "mask", "truth": "mask"}\n' + line + "\n")
    with pytest.raises(ValueError, match=rf"x.labels.jsonl:2: bad label: .*{needle}"):
        read_store(path)
