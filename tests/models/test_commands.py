"""`siaga detect` / `siaga eval` / `siaga models` end to end, in process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

from siaga.cli import main

IMG = "maksssksksss0.jpg"


def test_detect_jsonl_schema_and_corrupt_file(andrewmvd: Path, tmp_path: Path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "d.jsonl"
    code = main(
        [
            "detect",
            str(andrewmvd / "images" / IMG),
            str(bad),
            str(tmp_path / "nope.png"),
            "--model",
            "aizoo_facemask_360",
            "--jsonl",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "broken.jpg: not a decodable image" in err and "nope.png: no such file" in err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 1
    rec = lines[0]
    assert set(rec) == {"image", "width", "height", "detections"}
    assert (rec["image"], rec["width"], rec["height"]) == (IMG, 512, 366)
    labels = sorted(d["label"] for d in rec["detections"])
    assert labels == ["mask", "no_mask", "no_mask"]
    for d in rec["detections"]:
        assert set(d) == {"label", "score", "box"} and 0 <= d["score"] <= 1
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 < x2 <= 512 and 0 <= y1 < y2 <= 366


def test_detect_folder_and_annotate(andrewmvd: Path, tmp_path: Path):
    folder = tmp_path / "in"
    folder.mkdir()
    for stem in ("maksssksksss0", "maksssksksss1"):
        shutil.copy(andrewmvd / "images" / f"{stem}.jpg", folder)
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    ann = tmp_path / "ann"
    code = main(
        [
            "detect",
            str(folder),
            "--annotate",
            str(ann),
            "--jsonl",
            str(tmp_path / "o.jsonl"),
            "--conf",
            "0.3",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in ann.iterdir()) == ["maksssksksss0.jpg", "maksssksksss1.jpg"]
    drawn = cv2.imread(str(ann / "maksssksksss0.jpg"))
    assert drawn is not None and drawn.shape == (366, 512, 3)
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 2


def test_detect_video_one_line_per_frame(shared: Path, tmp_path: Path):
    src = cv2.VideoCapture(str(shared / "video" / "916241958_mask.mp4"))
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (388, 218))
    for _ in range(6):
        ok, frame = src.read()
        assert ok
        writer.write(frame)
    writer.release()
    out = tmp_path / "v.jsonl"
    assert main(["detect", str(clip), "--jsonl", str(out), "--annotate", str(tmp_path / "a")]) == 0
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["frame"] for r in recs] == list(range(6))
    assert all(r["image"] == "clip.mp4" and r["width"] == 388 for r in recs)
    assert (tmp_path / "a" / "clip_annotated.mp4").stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "no_such_model"], "unknown model 'no_such_model'"),
        (["--conf", "1.5"], "--conf must be between 0 and 1"),
    ],
)
def test_detect_bad_arguments_exit_2(andrewmvd: Path, capsys, args: list[str], message: str):
    assert main(["detect", str(andrewmvd / "images" / IMG), *args]) == 2
    assert message in capsys.readouterr().err


def test_eval_split_json_and_table(andrewmvd: Path, tmp_path: Path, capsys):
    split = tmp_path / "split.txt"
    split.write_text("maksssksksss0\nmaksssksksss1\nmaksssksksss2\n")
    out = tmp_path / "r.json"
    code = main(
        [
            "eval",
            "--images",
            str(andrewmvd / "images"),
            "--annotations",
            str(andrewmvd / "annotations"),
            "--split",
            str(split),
            "--json",
            str(out),
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "AP50" in table and "AP30" in table and "count error" in table
    report = json.loads(out.read_text())
    assert report["images"] == 3 and report["model"] == "siaga_facemask_v1"
    for key in ("mask", "no_mask", "face"):
        assert 0.0 <= report["ap50"][key] <= report["ap30"][key] <= 1.0
    assert report["latency_ms"]["mean"] > 0


def test_eval_missing_split_entries_exit_2(andrewmvd: Path, tmp_path: Path, capsys):
    split = tmp_path / "split.txt"
    split.write_text("maksssksksss0\nnot_an_image\n")
    code = main(
        [
            "eval",
            "--images",
            str(andrewmvd / "images"),
            "--annotations",
            str(andrewmvd / "annotations"),
            "--split",
            str(split),
        ]
    )
    assert code == 2
    assert "missing" in capsys.readouterr().err


def test_models_lists_reference_models(shared: Path, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "aizoo_facemask_360" in out and "ssd_anchor" in out
