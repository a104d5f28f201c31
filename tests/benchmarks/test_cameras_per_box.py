"""benchmarks.cameras_per_box: its search over N, its metric reading and sizing, and a real
smoke run (two 640x360 streams served by ffmpeg, the agent daemon of this tree, a Mosquitto)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.cameras_per_box.agent_run import parse_metrics
from benchmarks.cameras_per_box.cli import Search, main
from benchmarks.cameras_per_box.report import floor_points, sizing
from tests.conftest import shared_root
from tests.mqtt_broker import mosquitto_binary


def tried(capacity: int, listed: list[int]) -> list[int]:
    """The N the search tries against a box that holds up to `capacity` cameras."""
    search, seen = Search(listed), []
    while (n := search.next_n()) is not None:
        seen.append(n)
        search.record(n, n <= capacity)
    return seen


def test_search_stops_at_the_second_failure_and_narrows_the_gap() -> None:
    assert tried(9, [2, 4, 8, 12, 16]) == [2, 4, 8, 12, 10]
    assert tried(10, [2, 4, 8, 12, 16]) == [2, 4, 8, 12, 10]
    assert tried(26, [2, 4, 8, 16, 32]) == [2, 4, 8, 16, 32, 24, 28]
    assert tried(1, [2, 4, 8]) == [2]
    assert tried(100, [2, 4]) == [2, 4]


def test_metrics_are_read_per_camera_and_stage() -> None:
    text = """# TYPE siaga_agent_frames_processed counter
siaga_agent_frames_processed_total{camera="cam00"} 12.0
siaga_agent_frames_processed_total{camera="cam01"} 7.0
# TYPE siaga_agent_stage_cpu_seconds counter
siaga_agent_stage_cpu_seconds_total{camera="cam00",stage="decode"} 1.5
"""
    got = parse_metrics(text)
    assert got["siaga_agent_frames_processed_total"] == {("cam00", ""): 12.0, ("cam01", ""): 7.0}
    assert got["siaga_agent_stage_cpu_seconds_total"] == {("cam00", "decode"): 1.5}


def test_sizing_takes_the_largest_n_held_and_compares_with_before() -> None:
    def row(tree: str, n: int, held: bool, cpc: float) -> dict[str, object]:
        return {"tree": tree, "variant": "720p25", "gate": False, "n": n, "held": held,
                "cores_per_camera": cpc}  # fmt: skip

    rows = [
        row("before", 4, True, 0.25),
        row("before", 8, False, 0.2),
        row("after", 8, True, 0.1),
        row("after", 16, True, 0.125),
        row("after", 24, False, 1),
    ]
    out = {e["tree"]: e for e in sizing(rows, {"cpu_ms_per_frame": 10.0}, 5.0)}  # fmt: skip
    assert out["before"]["largest_n"] == 4 and out["before"]["first_failed_n"] == 8
    assert out["after"]["largest_n"] == 16 and out["after"]["cameras_per_core"] == 8.0
    assert out["after"]["cameras_per_core_vs_before"] == 2.0
    assert out["after"]["x_bare"] == pytest.approx(0.125 / 0.05)


def test_each_configuration_is_read_against_the_floor_at_its_own_n_and_inferred_rate() -> None:
    def row(tree: str, n: int, held: bool, cpc: float, gate: bool = False) -> dict[str, object]:
        return {"tree": tree, "variant": "720p25", "gate": gate, "n": n, "held": held,
                "cores_per_camera": cpc, "inferred_fps_mean": 2.04 if gate else 4.98,
                "detect_fps_mean": 4.98}  # fmt: skip

    rows = [
        row("before", 8, True, 0.25),
        row("after", 8, True, 0.1),
        row("after", 12, True, 0.12),
        row("after", 16, False, 1),
        row("after", 12, True, 0.09, gate=True),
        row("after", 20, True, 0.08, gate=True),
    ]
    assert floor_points(rows) == [("720p25", 12, 5.0), ("720p25", 20, 2.0)]
    floors = [
        {"variant": "720p25", "n": 12, "infer_fps_asked": 5.0, "cores_per_camera": 0.1,
         "decode_cores_per_camera": 0.045, "inference_cores_per_camera": 0.052},
        {"variant": "720p25", "n": 20, "infer_fps_asked": 2.0, "error": "streams not read"},
    ]
    out = {(e["tree"], e["gate"]): e for e in sizing(rows, {"cpu_ms_per_frame": 10.0}, 5.0, floors)}
    after = out[("after", False)]
    assert after["floor_cores_per_camera"] == 0.1
    assert after["floor_decode_cores_per_camera"] == 0.045
    assert after["ceiling_cameras_per_core"] == pytest.approx(10.0)
    assert after["x_floor"] == pytest.approx(1.2)
    # the most any agent could gain over before's 4 cameras per core on this machine
    assert after["ceiling_vs_before"] == pytest.approx(2.5)
    assert "floor_cores_per_camera" not in out[("after", True)]  # that floor failed: no figure
    assert "floor_cores_per_camera" not in out[("before", False)]  # only the tree under test


def test_quick_run_on_real_streams(tmp_path: Path) -> None:
    if shutil.which("ffmpeg") is None or mosquitto_binary() is None:
        pytest.skip("needs ffmpeg and mosquitto (make sysdeps)")
    if not (shared_root() / "video/gituatu_nomask.mp4").is_file():
        pytest.skip("needs $SIAGA_SHARED/video/gituatu_nomask.mp4")
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "cameras_per_box.json").read_text())
    assert report["variants"]["360p25"] == {"width": 640, "height": 360, "fps": 25.0}
    assert report["bare_model_start"]["fps"] > 0
    [step] = report["rows"]
    assert step["n"] == 2 and step["servers_copy"] and step["servers_alive_at_end"] == 2
    assert set(step["cameras"]) == {"cam00", "cam01"}
    for cam in step["cameras"].values():
        assert 20 <= cam["read_fps"] <= 30  # the served stream's 25 fps, read live
        assert cam["detect_fps"] > 0
    assert step["agent_cores"] > 0 and step["server_cores"] < step["agent_cores"]
    assert step["stage_split"], "this tree's agent exposes siaga_agent_stage_cpu_seconds_total"
    stages = step["stage_cores_per_camera"]
    assert sum(stages.values()) <= step["cores_per_camera"] * 1.1
    assert (tmp_path / "cameras_per_box.md").read_text().startswith("| stream |")
    # the floor (a minimal agent) on fresh servers of the same streams, at the N that held
    [floor] = report["floors"]
    assert floor["n"] == 2 and floor["variant"] == "360p25", floor
    assert 20 <= floor["grab_fps_min"] <= 30 and 4 <= floor["retrieve_fps_mean"] <= 6
    assert floor["infer_fps_asked"] == round(step["inferred_fps_mean"], 1)
    assert floor["infer_fps_mean"] == pytest.approx(floor["infer_fps_asked"], rel=0.1)
    assert floor["decode_cores_per_camera"] > 0 and floor["inference_cores_per_camera"] > 0
    parts = floor["decode_cores_per_camera"] + floor["inference_cores_per_camera"]
    assert parts <= floor["cores_per_camera"] * 1.05  # the readers' own threads within the total
    [entry] = report["sizing"]
    assert entry["floor_cores_per_camera"] == floor["cores_per_camera"]
    assert entry["x_floor"] == pytest.approx(step["cores_per_camera"] / floor["cores_per_camera"])
