"""The whole agent against a real Mosquitto: video in, valid counts out, clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.config import load_config
from agent.outbox import Outbox
from agent.service import AgentService
from siaga.wire import CountsMessage, StatusMessage
from tests.agent.test_worker import make_clip
from tests.mqtt_broker import MosquittoBroker, Subscriber

REPO = Path(__file__).resolve().parents[2]
SIAGA = [sys.executable, "-m", "siaga"]


def write_config(
    tmp: Path,
    broker: MosquittoBroker,
    clips: list[Path],
    *,
    loop: bool = False,
    confirm: str = "broker",
    calibration: Path | None = None,
) -> Path:
    """An agent config for these clips. confirm: "broker" by default, since no central runs here
    to confirm (tests/agent/test_confirm.py runs one). calibration: cam0's calibration file."""
    cal = f'calibration_file = "{calibration}"\n' if calibration else ""
    cams = "".join(
        f'[[cameras]]\nid = "cam{i}"\nsource = "{c}"\nloop = {str(loop).lower()}\n'
        + (cal if i == 0 else "")
        for i, c in enumerate(clips)
    )
    cfg = tmp / "agent.toml"
    cfg.write_text(f"""
[agent]
id = "box-test"
site = "Test site"
kelurahan_code = "33.74.01.1001"
{cams}
[sampling]
detect_fps = 8
[counting]
window_s = 5
[mqtt]
host = "{broker.host}"
port = {broker.port}
confirm = "{confirm}"
[outbox]
path = "{tmp / 'outbox.sqlite3'}"
[health]
status_interval_s = 1
""")  # fmt: skip
    return cfg


@pytest.fixture
def clips(shared: Path, tmp_path: Path) -> list[Path]:
    return [
        make_clip(shared / "video" / "916241958_mask.mp4", tmp_path / "a.mp4", frames=50, fps=25),
        make_clip(shared / "video" / "gituatu_nomask.mp4", tmp_path / "b.mp4", frames=50, fps=25),
    ]


CONFUSION = {
    "mask": {"masked": 40, "unmasked": 3, "missed": 5},
    "no_mask": {"masked": 4, "unmasked": 30, "missed": 6},
    "not_a_face": {"masked": 2, "unmasked": 1, "missed": 9},
}


def test_two_cameras_one_session_deliver_valid_counts(mosquitto, clips, tmp_path: Path):
    # cam0 is calibrated: its status carries the version and the detector's confusion counts.
    cal = tmp_path / "cam0.json"
    cal.write_text(json.dumps({"version": "v3", "camera_id": "cam0",
                               "thresholds": {"mask": 0.5, "no_mask": 0.5},
                               "confusion": CONFUSION}))  # fmt: skip
    cfg = load_config(write_config(tmp_path, mosquitto, clips, calibration=cal))
    with Subscriber(mosquitto, ["siaga/v1/#"]) as sub:
        service = AgentService(cfg)
        assert len({id(w.detector) for w in service.workers}) == 1  # one shared detector
        service.run(exit_when_sources_end=True)
        counts_ok = sub.wait_for(
            lambda ms: any(
                m.topic.endswith("availability") and m.payload == b"offline" for m in ms
            ),
            5,
        )
        msgs = sub.snapshot()
    assert counts_ok
    counts = [CountsMessage.model_validate_json(m.payload) for m in msgs
              if m.topic.endswith("/counts")]  # fmt: skip
    assert counts, "no counts delivered"
    seqs = sorted({c.seq for c in counts})
    assert seqs == list(range(1, len(seqs) + 1)), "seq must have no gaps"
    for m in msgs:
        if m.topic.endswith("/counts"):
            c = CountsMessage.model_validate_json(m.payload)
            assert m.topic == f"siaga/v1/box-test/{c.camera_id}/counts"
            assert c.model.name == "siaga_facemask_v1" and len(c.model.sha256) == 64
    assert {c.camera_id for c in counts} == {"cam0", "cam1"}
    per_cam = {
        cam: sum(c.people_seen for c in counts if c.camera_id == cam) for cam in ("cam0", "cam1")
    }
    assert per_cam["cam0"] >= 1 and sum(c.masked for c in counts if c.camera_id == "cam0") >= 1
    statuses = [StatusMessage.model_validate_json(m.payload) for m in msgs
                if m.topic.endswith("/status")]  # fmt: skip
    assert statuses and set(statuses[-1].cameras) == {"cam0", "cam1"}
    cam0 = statuses[-1].cameras["cam0"].calibration
    assert cam0 is not None and cam0.version == "v3"
    assert cam0.confusion is not None and cam0.confusion.model_dump() == CONFUSION
    assert statuses[-1].cameras["cam1"].calibration is None  # uncalibrated: marked as such
    assert {c.calibration_version for c in counts if c.camera_id == "cam0"} == {"v3"}
    assert Outbox(tmp_path / "outbox.sqlite3", max_messages=100).depth() == 0


def test_sigterm_flushes_says_offline_and_exits_within_5s(mosquitto, clips, tmp_path: Path):
    cfg = write_config(tmp_path, mosquitto, clips[:1], loop=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with Subscriber(mosquitto, ["siaga/v1/#"]) as sub:
        proc = subprocess.Popen(
            [*SIAGA, "agent", "run", "--config", str(cfg)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            assert sub.wait_for(lambda ms: any(m.topic.endswith("/status") for m in ms), 60)
            time.sleep(1.0)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=10)
            elapsed = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
        log = proc.stdout.read().decode() if proc.stdout else ""
        assert code == 0, log
        assert elapsed < 5.0, f"took {elapsed:.1f} s to stop"
        assert sub.wait_for(lambda ms: any(m.payload == b"offline" for m in ms), 5)
        counts = [json.loads(m.payload) for m in sub.snapshot() if m.topic.endswith("/counts")]
    assert counts, "the partial window at shutdown must be delivered"
    assert Outbox(tmp_path / "outbox.sqlite3", max_messages=100).depth() == 0


@pytest.mark.parametrize(
    ("edit", "code", "message"),
    [
        (lambda s: s, 0, "configuration OK"),
        (lambda s: s.replace("window_s = 5", "window_s = 7"), 2, "counting: Value error"),
        (lambda s: s + "\n[bogus]\nx = 1\n", 2, "bogus: Extra inputs"),
        (
            lambda s: s.replace("[sampling]", '[model]\nname = "nope"\n[sampling]'),
            2,
            "unknown model",
        ),
    ],
)
def test_check_config(mosquitto, clips, tmp_path: Path, edit, code: int, message: str):
    cfg = write_config(tmp_path, mosquitto, clips[:1])
    cfg.write_text(edit(cfg.read_text()))
    out = subprocess.run([*SIAGA, "agent", "check-config", "--config", str(cfg)],
                         cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == code, out.stderr
    assert message in out.stderr


def test_check_config_hides_the_password(mosquitto, clips, tmp_path: Path):
    cfg = write_config(tmp_path, mosquitto, clips[:1])
    env = {**os.environ, "SIAGA_AGENT__MQTT__PASSWORD": "s3cret-Value-42"}
    out = subprocess.run([*SIAGA, "agent", "check-config", "--config", str(cfg)],
                         cwd=REPO, capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "s3cret-Value-42" not in out.stdout + out.stderr
    assert json.loads(out.stdout)["mqtt"]["password"] == "**********"


@pytest.mark.parametrize(
    ("configured", "cameras", "cores", "threads"),
    [
        (None, 2, 2, 1),  # a camera per core: the cameras are the parallelism
        (None, 16, 2, 1),
        (None, 1, 2, 2),  # one camera: the cores shared out
        (None, 2, 8, 4),
        (None, 1, 16, 4),  # at most 4 (this small network gains nothing beyond)
        (None, 3, 4, 1),
        (3, 16, 2, 3),  # what the technician set stands
        (0, 1, 2, 0),  # 0: onnxruntime chooses
    ],
)
def test_inference_threads(configured: int | None, cameras: int, cores: int, threads: int):
    from agent.service import inference_threads

    assert inference_threads(configured, cameras, cores) == threads


def test_the_shared_session_runs_single_threaded_with_a_camera_per_core(tmp_path: Path):
    """The session actually built for a box with as many cameras as cores has one thread."""
    from agent.config import AgentConfig
    from agent.service import _registry_runtime, box_cores

    cams = [{"id": f"c{i}", "source": "synthetic:"} for i in range(box_cores())]
    cfg = AgentConfig.model_validate({
        "agent": {"id": "box", "site": "s", "kelurahan_code": "33.74.01.1001"},
        "cameras": cams, "outbox": {"path": str(tmp_path / "o.sqlite3")},
    })  # fmt: skip
    assert _registry_runtime(cfg)[1].intra_op_threads == 1
    one = cfg.model_copy(update={"cameras": cfg.cameras[:1]})
    assert _registry_runtime(one)[1].intra_op_threads == min(4, box_cores())
