"""`siaga demo`: the whole edge chain on the embedded defaults, on one machine.

Starts a private Mosquitto on a free loopback port, runs the agent on a sample video from
../shared/video with short count windows, and prints every counts message the broker delivers,
as a city dashboard would see it. Nothing but counts crosses the broker.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

DEFAULT_VIDEOS = ("video/gituatu_mask.mp4", "video/gituatu_nomask.mp4", "video/916241958_mask.mp4")


def register(sub: Any) -> None:
    """Add `siaga demo` to the command line."""
    p = sub.add_parser("demo", help="end-to-end demo: sample video → agent → local Mosquitto")
    shared = Path(os.environ.get("SIAGA_SHARED", "../shared"))
    p.add_argument(
        "--video",
        type=Path,
        action="append",
        dest="videos",
        help="a video file played as one camera (repeatable; default: three samples"
        " from $SIAGA_SHARED/video, as three cameras sharing one detector)",
    )
    p.add_argument("--model", default="aizoo_facemask_360")
    p.add_argument("--window-s", type=int, default=10)
    p.add_argument("--workdir", type=Path, default=Path("out/demo"))
    p.set_defaults(func=run_demo, shared=shared)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mosquitto(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """A private broker on 127.0.0.1:port; returns once it accepts connections."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        raise SystemExit(
            "mosquitto is not installed (make demo installs it: apt-get install mosquitto)"
        )
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("mosquitto did not start")


def write_config(path: Path, *, videos: list[Path], port: int, args: argparse.Namespace) -> None:
    """The demo agent's config: one camera per sample video, short windows."""
    cameras = "".join(
        f'\n[[cameras]]\nid = "cam{i + 1}"\nsource = "{v}"\nmin_face_px = 16\n'
        for i, v in enumerate(videos)
    )
    path.write_text(f"""
[agent]
id = "demo-box"
site = "Demo: Simpang Lima"
kelurahan_code = "33.74.03.1006"
{cameras}
[model]
name = "{args.model}"

[counting]
window_s = {args.window_s}

[mqtt]
host = "127.0.0.1"
port = {port}

[outbox]
path = "{path.parent / "outbox.sqlite3"}"

[health]
status_interval_s = 5
""")


def run_demo(args: argparse.Namespace) -> int:
    """Run the chain and print what the broker delivers."""
    from agent.config import load_config
    from agent.service import AgentService

    videos = args.videos or [args.shared / v for v in DEFAULT_VIDEOS]
    missing = [str(v) for v in videos if not v.is_file()]
    if missing:
        print(f"siaga demo: video not found: {', '.join(missing)} (set SIAGA_SHARED)",
              file=sys.stderr)  # fmt: skip
        return 2
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "outbox.sqlite3").unlink(missing_ok=True)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_mosquitto(port, Path(tmp))
        try:
            received = watch(port)
            cfg_path = args.workdir / "agent.toml"
            write_config(cfg_path, videos=[v.resolve() for v in videos], port=port, args=args)
            print(f"broker: mosquitto on 127.0.0.1:{port}; agent config: {cfg_path}")
            service = AgentService(load_config(cfg_path))
            service.run(exit_when_sources_end=True)
            time.sleep(0.5)
        finally:
            broker.terminate()
            broker.wait(5)
    counts = [m for t, m in received if t.endswith("/counts")]
    total = sum(m["people_seen"] for m in counts)
    masked = sum(m["masked"] for m in counts)
    print(
        f"\n{len(counts)} count windows delivered; people seen {total}, masked {masked}, "
        f"unmasked {total - masked}"
    )
    (args.workdir / "received.jsonl").write_text("".join(json.dumps(m) + "\n" for _, m in received))
    print(f"every message the broker delivered: {args.workdir / 'received.jsonl'}")
    return 0 if counts else 1


def watch(port: int) -> list[tuple[str, dict[str, Any]]]:
    """Subscribe to everything under siaga/v1 and print counts as they arrive."""
    received: list[tuple[str, dict[str, Any]]] = []
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="demo-dashboard",
                         protocol=mqtt.MQTTv5)  # fmt: skip

    def on_connect(c: mqtt.Client, *_: Any) -> None:
        c.subscribe("siaga/v1/#", qos=1)
        ready.set()

    def on_message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            body = {"raw": msg.payload.decode(errors="replace")}
        received.append((msg.topic, body))
        if msg.topic.endswith("/counts"):
            print(
                f"counts seq {body['seq']:>3} {body['camera_id']} "
                f"{body['window_start'][11:19]}–{body['window_end'][11:19]}: "
                f"people {body['people_seen']:>2}, masked {body['masked']:>2}, "
                f"unmasked {body['unmasked']:>2}, frames {body['frames_processed']}"
                f"/{body['frames_inferred']} inferred"
            )
        elif msg.topic.endswith("/status"):
            cams = ", ".join(
                f"{k} {v['fps']} fps {v['inference_ms']} ms"
                for k, v in body.get("cameras", {}).items()
            )
            print(f"status: outbox {body.get('outbox_depth')}, {cams}")
        elif msg.topic.endswith("/availability"):
            print(f"availability: {msg.payload.decode()}")

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    ready.wait(5)
    return received
