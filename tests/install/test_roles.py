"""Each role from the built wheel, in a venv of its own: the edge box (`pip install siaga`) runs
the agent end to end against a real Mosquitto on a shared clip and delivers valid counts; the
central server (`siaga[central]`) migrates an empty SQLite database, stores those counts and
serves /healthz; central commands on the box refuse with one line naming the extra."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from siaga.wire import CountsMessage
from tests.install.conftest import NOT_ON_CENTRAL, NOT_ON_THE_BOX, Venv, clean_env, run
from tests.mqtt_broker import MosquittoBroker, Subscriber, free_port, wait_until

pytestmark = pytest.mark.slow

CLIP = "gituatu_mask.mp4"  # 9.8 s, 720x404, people wearing masks close to the camera
WINDOW_S = 5


def test_the_box_carries_no_central_training_or_test_packages(base_venv: Venv) -> None:
    installed = base_venv.packages()
    assert {"onnxruntime", "opencv-python-headless", "paho-mqtt", "siaga"} <= installed.keys()
    assert not NOT_ON_THE_BOX & installed.keys(), sorted(NOT_ON_THE_BOX & installed.keys())


def test_central_carries_no_training_or_test_packages(central_venv: Venv) -> None:
    installed = central_venv.packages()
    assert {"sqlalchemy", "fastapi", "alembic", "siaga"} <= installed.keys()
    assert not NOT_ON_CENTRAL & installed.keys(), sorted(NOT_ON_CENTRAL & installed.keys())


@pytest.mark.parametrize("argv", [
    ["central", "run", "--config", "/etc/siaga/central.toml"],
    ["central", "import", "--help"],
    ["fleet", "list"],
    ["simulate", "--agents", "3"],
    ["-v", "demo"],
])  # fmt: skip
def test_central_commands_on_the_box_name_the_extra(base_venv: Venv, argv: list[str]) -> None:
    cp = run([base_venv.siaga, *argv], check=False, env=clean_env())
    assert cp.returncode == 2
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1, cp.stderr
    assert "pip install 'siaga[central]'" in lines[0] and "sqlalchemy" in lines[0], lines[0]
    assert lines[0].startswith(f"siaga {next(a for a in argv if a[0] != '-')}: ")


def test_the_box_help_lists_every_command(base_venv: Venv) -> None:
    out = run([base_venv.siaga, "--help"], env=clean_env()).stdout
    for name in ("detect", "eval", "models", "agent", "calibrate", "central", "fleet", "demo"):
        assert f"    {name} " in out, out
    assert "needs siaga[central]" in out


def test_models_and_detect_from_the_wheel(base_venv: Venv, shared: Path, tmp_path: Path) -> None:
    env = clean_env()  # no SIAGA_MODEL_PATH: the shipped model must come from the package
    listing = run([base_venv.siaga, "models"], env=env).stdout
    line = next(ln for ln in listing.splitlines() if ln.split()[:1] == ["siaga_facemask_v1"])
    assert "site-packages" in line, line
    image = shared / "data" / "andrewmvd" / "images" / "maksssksksss0.jpg"
    out = tmp_path / "dets.jsonl"
    run([base_venv.siaga, "detect", image, "--jsonl", out], env=env, timeout=120)
    (record,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert record["detections"], record
    assert {d["label"] for d in record["detections"]} <= {"mask", "no_mask"}


def test_technician_tools_on_the_box(base_venv: Venv, shared: Path, tmp_path: Path) -> None:
    clip = shared / "video" / "gituatu_video.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    cfg = _agent_config(tmp_path / "agent.toml", clip, 1883)
    cp = run([base_venv.siaga, "agent", "check-config", "--config", cfg, "-v"], env=clean_env())
    assert "configuration OK" in cp.stderr, cp.stderr
    run([base_venv.siaga, "calibrate", "snapshot", "--video", clip, "--out", tmp_path / "snap",
         "--count", "3"], env=clean_env())  # fmt: skip
    assert len(list((tmp_path / "snap").glob("*.jpg")) + list((tmp_path / "snap").glob("*.png"))
               ) == 3, sorted((tmp_path / "snap").iterdir())  # fmt: skip


def _agent_config(path: Path, clip: Path, port: int) -> Path:
    path.write_text(f"""
[agent]
id = "wheel-box"
site = "Wheel test"
kelurahan_code = "33.74.03.1006"

[[cameras]]
id = "cam1"
source = "{clip}"
min_face_px = 16

[counting]
window_s = {WINDOW_S}

[mqtt]
host = "127.0.0.1"
port = {port}

[outbox]
path = "{path.parent / "outbox.sqlite3"}"
""")
    return path


def _get(url: str, token: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=5) as r:  # fmt: skip
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError:
        return 0, {}


def test_box_counts_reach_the_central_store(
    base_venv: Venv, central_venv: Venv, central_mosquitto: MosquittoBroker, shared: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    clip = shared / "video" / CLIP
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    api_port = free_port()
    db = tmp_path / "central.sqlite3"
    # The example configs as the wheel installs them (package data), not the checkout's copies.
    pkg = Path(run([central_venv.python, "-c", "import central; print(central.__file__)"],
                   env=clean_env()).stdout.strip()).parent  # fmt: skip
    example = pkg / "central.example.toml"
    # The example config as a technician would adapt it: through the documented overrides.
    env = clean_env(
        SIAGA_CENTRAL__STORAGE__URL=f"sqlite:///{db}",
        SIAGA_CENTRAL__MQTT__PORT=str(central_mosquitto.port),
        SIAGA_CENTRAL__API__PORT=str(api_port),
        SIAGA_CENTRAL__AREAS__WILAYAH_CSV=str(shared / "geo" / "semarang_wilayah.csv"),
        SIAGA_CENTRAL__AREAS__KELURAHAN_GEOJSON=str(shared / "geo" /
                                                    "semarang_kelurahan.geojson"),
        SIAGA_CENTRAL__AREAS__CAMERAS_FILE=str(pkg / "cameras.example.toml"),
        SIAGA_CENTRAL__SUMMARIES__INTERVAL_S="2",
        SIAGA_CENTRAL__REPORT__OUTPUT_DIR=str(tmp_path / "report"),
        SIAGA_CENTRAL__OPENDATA__OUTPUT_DIR=str(tmp_path / "opendata"),
    )  # fmt: skip
    log = (tmp_path / "central.log").open("w")
    central = subprocess.Popen([central_venv.siaga, "central", "run", "--config", example],
                               env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        healthz = f"http://127.0.0.1:{api_port}/healthz"
        assert wait_until(lambda: _get(healthz)[0] == 200, 60, 0.5), (
            (tmp_path / "central.log").read_text()[-3000:])
        assert db.is_file()  # migrated from nothing
        # Raw windows are operator data: a read token, issued as the operator would.
        token = run([central_venv.siaga, "central", "institution", "add", "wheel-ops", "--name",
                     "Ops", "--read", "--config", example], env=env).stdout.strip()  # fmt: skip

        topic = "siaga/v1/wheel-box/+/counts"
        with Subscriber(central_mosquitto, [topic]).start() as sub:
            cfg = _agent_config(tmp_path / "agent.toml", clip, central_mosquitto.port)
            agent = run([base_venv.siaga, "agent", "run", "--config", cfg, "--exit-at-end"],
                        env=clean_env(), timeout=180)  # fmt: skip
            assert wait_until(lambda: len(sub.payloads()) > 0, 10), agent.stderr[-3000:]
            time.sleep(1.0)  # the last window's PUBACK came before exit; let delivery settle
            messages = [CountsMessage.model_validate_json(p) for p in sub.payloads()]
        assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
        assert sum(m.people_seen for m in messages) > 0, messages
        assert {m.model.name for m in messages} == {"siaga_facemask_v1"}

        def stored() -> list[dict]:
            return _get(f"http://127.0.0.1:{api_port}/windows?agent_id=wheel-box"
                        "&limit=100", token)[1].get("windows", [])  # fmt: skip

        assert wait_until(lambda: len(stored()) == len(messages), 30, 0.5), stored()
        rows = sorted(stored(), key=lambda r: r["seq"])
        assert [(r["seq"], r["people_seen"], r["masked"]) for r in rows] == [
            (m.seq, m.people_seen, m.masked) for m in messages]
    finally:
        central.send_signal(signal.SIGTERM)
        try:
            rc = central.wait(timeout=20)
        except subprocess.TimeoutExpired:
            central.kill()
            rc = central.wait()
        log.close()
    assert rc == 0, (tmp_path / "central.log").read_text()[-3000:]
