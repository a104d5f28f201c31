"""`check-config` opens what it says it checks: each video file (one frame decoded) and the outbox
(read-write, as the agent will), reporting each failure as a problem line, changing nothing."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from agent.cli import check_config
from agent.outbox import Outbox
from tests.agent.small_disk import read_only_remount, small_disk
from tests.agent.test_service import write_config
from tests.agent.test_worker import make_clip
from tests.mqtt_broker import MosquittoBroker


def check(cfg: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = check_config(argparse.Namespace(config=cfg, connect=False))
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if "problem:" in line]


@pytest.fixture
def clip(shared: Path, tmp_path: Path) -> Path:
    return make_clip(shared / "video" / "916241958_mask.mp4", tmp_path / "a.mp4", frames=10, fps=25)


def with_outbox(cfg: Path, tmp_path: Path, outbox: Path) -> Path:
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "outbox.sqlite3"), str(outbox)))
    return cfg


def test_a_good_config_is_ok_and_leaves_no_outbox_behind(mosquitto, clip, tmp_path, capsys):
    cfg = write_config(tmp_path, mosquitto, [clip])
    before = set(tmp_path.iterdir())
    assert check(cfg, capsys) == (0, [])
    assert set(tmp_path.iterdir()) == before, "check-config left a file behind"


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty"])
def test_an_unreadable_video_file_is_a_problem(mosquitto, clip, tmp_path, capsys, kind):
    bad = tmp_path / "bad.mp4"
    data = clip.read_bytes()
    bad.write_bytes({"garbage": os.urandom(20_000), "truncated": data[: len(data) // 20],
                     "empty": b""}[kind])  # fmt: skip
    code, problems = check(write_config(tmp_path, mosquitto, [clip, bad]), capsys)
    assert code == 2
    assert len(problems) == 1 and "cameras.cam1.source" in problems[0], problems


def test_an_outbox_under_an_unwritable_folder_is_a_problem(
    mosquitto: MosquittoBroker, clip, tmp_path, capsys
):
    with small_disk(tmp_path / "ro", size_kib=256) as folder:
        if not read_only_remount(folder, read_only=True):
            pytest.skip("cannot remount the small disk read-only")
        try:
            for outbox in (folder / "outbox.sqlite3", folder / "sub" / "outbox.sqlite3"):
                cfg = with_outbox(write_config(tmp_path, mosquitto, [clip]), tmp_path, outbox)
                code, problems = check(cfg, capsys)
                assert code == 2
                assert len(problems) == 1 and f"outbox.path: {outbox}" in problems[0], problems
        finally:
            read_only_remount(folder, read_only=False)


def test_an_existing_outbox_is_opened_and_not_changed(mosquitto, clip, tmp_path, capsys):
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path, max_messages=10) as box:
        box.enqueue("siaga/v1/box-test/cam0/counts", lambda seq: b"{}")
    files = {p: p.read_bytes() for p in tmp_path.glob("outbox.sqlite3*")}
    assert check(write_config(tmp_path, mosquitto, [clip]), capsys) == (0, [])
    assert {p: p.read_bytes() for p in tmp_path.glob("outbox.sqlite3*")} == files


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a database" * 100, "cannot use it read-write"), (None, "not a file")],
)
def test_an_unusable_outbox_is_a_problem(mosquitto, clip, tmp_path, capsys, content, message):
    path = tmp_path / "outbox.sqlite3"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    code, problems = check(write_config(tmp_path, mosquitto, [clip]), capsys)
    assert code == 2 and len(problems) == 1 and message in problems[0], problems
