"""`siaga demo`: the whole edge chain on the embedded defaults, on one machine.

Starts a private Mosquitto on a free loopback port, runs central (collector, summaries, HTTP
API) on a SQLite file in the work folder, runs the agent on sample videos from ../shared/video
with short count windows, and prints every counts message the broker delivers and the live
summaries of the city and the demo kelurahan, as a city dashboard would see them. At the end it
shows two API answers, central's view of each camera, and per camera the people seen, masked,
unmasked and not judged with the agent's verdict on the view. Nothing but counts crosses the broker.
Then it keeps serving the dashboard (live over the broker's WebSocket listener) and the city page
until Ctrl-C, or for --duration (demo/serve.py says when it does not wait at all).

The default cameras: three close-up clips, and a wide campus view (vtest_sda.mp4, faces of
4-16 px) that the agent must report honestly: people seen, none judged, camera not suitable for
mask judgement (agent/judge.py). That clip is 80 s long: the demo stops the agent once every
other clip has ended and, after DEMO_MIN_PLAY_S, every camera still playing has its verdict
(DEMO_MAX_PLAY_S at the latest).
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

from demo.central_side import (
    CENTRAL_DB_FILES,
    DEMO_KELURAHAN,
    finish_central,
    free_port,
    start_central,
)
from demo.serve import ADDRESSES, print_addresses, serve, serve_seconds, write_addresses

DEFAULT_VIDEOS = (
    "video/gituatu_mask.mp4",
    "video/gituatu_nomask.mp4",
    "video/916241958_mask.mp4",
    "video/vtest_sda.mp4",  # the wide view: people seen, none judged, camera not suitable
)
# How long the demo plays a clip that is still running once the others have ended: at least
# DEMO_MIN_PLAY_S, then until the camera has its suitability verdict, DEMO_MAX_PLAY_S at most.
DEMO_MIN_PLAY_S = 20.0
DEMO_MAX_PLAY_S = 60.0


def register(sub: Any) -> None:
    """Add `siaga demo` to the command line."""
    p = sub.add_parser(
        "demo", help="end-to-end demo: sample video → agent → local Mosquitto → central"
    )
    shared = Path(os.environ.get("SIAGA_SHARED", "../shared"))
    p.add_argument(
        "--video",
        type=Path,
        action="append",
        dest="videos",
        help="a video file played as one camera (repeatable; default: four samples"
        " from $SIAGA_SHARED/video, three close-ups and a wide view, as four cameras sharing"
        " one detector)",
    )
    p.add_argument("--model", default="siaga_facemask_v1")
    p.add_argument("--window-s", type=int, default=10)
    p.add_argument("--workdir", type=Path, default=Path("out/demo"))
    p.add_argument(
        "--duration", type=float, default=None, metavar="S",
        help="after the scenario, keep serving the dashboard and city page for S seconds"
        " (0: exit at once; default: until Ctrl-C in a terminal, 0 when not run from one)",
    )  # fmt: skip
    p.add_argument("--port", type=int, default=0, help="central's HTTP port (default: a free one)")
    p.set_defaults(func=run_demo, shared=shared)


def start_mosquitto(port: int, workdir: Path, *, ws_port: int | None = None
                    ) -> subprocess.Popen[bytes]:  # fmt: skip
    """A private broker on 127.0.0.1:port (and MQTT over WebSockets on ws_port, for the
    dashboard in the browser); returns once it accepts connections."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        raise SystemExit(
            "mosquitto is not installed (make demo installs it: apt-get install mosquitto)"
        )
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    + ("" if ws_port is None else
                       f"listener {ws_port} 127.0.0.1\nprotocol websockets\n"))  # fmt: skip
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        if all(_accepts(p) for p in (port, ws_port) if p is not None):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("mosquitto did not start")


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def write_config(path: Path, *, sources: list[str], port: int, args: argparse.Namespace) -> None:
    """The demo agent's config: one camera per source, short windows."""
    cameras = "".join(
        f'\n[[cameras]]\nid = "cam{i + 1}"\nsource = "{v}"\nmin_face_px = 16\n'
        for i, v in enumerate(sources)
    )
    path.write_text(f"""
[agent]
id = "demo-box"
site = "Demo: Simpang Lima"
kelurahan_code = "{DEMO_KELURAHAN}"
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
    if missing and args.videos:
        print(f"siaga demo: video not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    sources = [str(v.resolve()) for v in videos]
    if missing:
        # No sample videos here (no ../shared): the chain still runs, on a synthetic camera
        # that shows no faces, so every count is zero.
        print(f"siaga demo: sample videos not found under {args.shared / 'video'} "
              "(set SIAGA_SHARED); using a synthetic camera instead: counts will be zero",
              file=sys.stderr)  # fmt: skip
        sources = ["synthetic:frames=150,fps=10"]
    args.workdir.mkdir(parents=True, exist_ok=True)
    for name in ("outbox.sqlite3", *CENTRAL_DB_FILES):
        (args.workdir / name).unlink(missing_ok=True)
    port, ws_port = free_port(), free_port()
    central: Any = None
    received: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_mosquitto(port, Path(tmp), ws_port=ws_port)
        try:
            received = watch(port)
            cfg_path = args.workdir / "agent.toml"
            write_config(cfg_path, sources=sources, port=port, args=args)
            print(f"broker: mosquitto on 127.0.0.1:{port} (WebSockets for the dashboard on "
                  f"{ws_port}); agent config: {cfg_path}")  # fmt: skip
            central = start_central(args, port=port, cameras=len(sources), ws_port=ws_port)
            if central is not None:
                print_addresses(write_addresses(central, args.workdir, ws_port=ws_port))
            service = AgentService(load_config(cfg_path))
            if not args.videos:  # the default clips: the wide one is 80 s long
                threading.Thread(target=stop_when_shown, args=(service,), daemon=True).start()
            service.run(exit_when_sources_end=True)
            time.sleep(0.5)
            if central is not None:
                finish_central(central, delivered=sum(t.endswith("/counts") for t, _ in received))
            delivered = closing_lines(received, sources, args.workdir)
            if central is not None:
                serve(central, serve_seconds(args.duration))
        finally:
            if central is not None:
                central.shutdown()
            (args.workdir / ADDRESSES).unlink(missing_ok=True)
            broker.terminate()
            broker.wait(5)
    return 0 if delivered else 1


def closing_lines(received: list[tuple[str, dict[str, Any]]], sources: list[str],
                  workdir: Path) -> int:  # fmt: skip
    """Print the totals and each camera's line, save every message; the count windows seen."""
    counts = [m for t, m in received if t.endswith("/counts")]
    print(f"\n{len(counts)} count windows delivered; {people_line(counts)}")
    for line in camera_lines(received, sources):
        print(line)
    (workdir / "received.jsonl").write_text("".join(json.dumps(m) + "\n" for _, m in received))
    print(f"every message the broker delivered: {workdir / 'received.jsonl'}")
    return len(counts)


def stop_when_shown(service: Any, *, poll_s: float = 0.5) -> None:
    """Stop the agent once every camera's clip has ended or, after DEMO_MIN_PLAY_S, the cameras
    still playing all have a suitability verdict; at DEMO_MAX_PLAY_S in any case."""
    start = time.monotonic()
    while not service.workers or not all(w.finished for w in service.workers):
        played = time.monotonic() - start
        playing = [w for w in service.workers if not w.finished]
        if played >= DEMO_MAX_PLAY_S or (
            played >= DEMO_MIN_PLAY_S
            and all(w.suitability.current().suitable is not None for w in playing)
        ):
            print(f"demo: stopping the agent after {played:.0f} s: "
                  f"{', '.join(w.camera.id for w in playing)} still playing")  # fmt: skip
            service.stop()
            return
        time.sleep(poll_s)


def people_line(counts: list[dict[str, Any]]) -> str:
    """People seen, masked, unmasked and not judged over some counts messages."""
    seen = sum(m["people_seen"] for m in counts)
    masked = sum(m["masked"] for m in counts)
    unmasked = sum(m["unmasked"] for m in counts)
    # An agent without judgement sends no not_judged: its people were all judged (siaga/wire).
    return (f"people seen {seen}, masked {masked}, unmasked {unmasked}, "
            f"not judged {seen - masked - unmasked}")  # fmt: skip


def camera_lines(received: list[tuple[str, dict[str, Any]]], sources: list[str]) -> list[str]:
    """One line per camera: its people and the agent's verdict on its view (from the newest
    status's judgement, else the newest window's `suitable`)."""
    statuses = [m for t, m in received if t.endswith("/status")]
    judgements = statuses[-1].get("cameras", {}) if statuses else {}
    lines = []
    for i, source in enumerate(sources):
        cam = f"cam{i + 1}"
        counts = [m for t, m in received if t.endswith("/counts") and m["camera_id"] == cam]
        j = (judgements.get(cam) or {}).get("judgement")
        flags = [m["suitable"] for m in counts if m.get("suitable") is not None]
        if j and j.get("suitable") is not None:
            view = (f"camera suitable ({j['judgeable']} of {j['faces']} faces judgeable)"
                    if j["suitable"] else f"camera NOT suitable: {j['reason']}")  # fmt: skip
        elif flags:
            view = "camera suitable" if flags[-1] else "camera NOT suitable"
        elif j:
            view = f"suitability not known yet ({j['faces']} faces seen)"
        else:
            view = "suitability not reported"
        lines.append(f"  {cam} ({Path(source).name}): {people_line(counts)}; {view}")
    return lines


def watch(port: int) -> list[tuple[str, dict[str, Any]]]:
    """Subscribe to everything under siaga/v1 and print counts as they arrive."""
    received: list[tuple[str, dict[str, Any]]] = []
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="demo-dashboard",
                         protocol=mqtt.MQTTv5)  # fmt: skip

    def on_connect(c: mqtt.Client, *_: Any) -> None:
        c.subscribe("siaga/v1/#", qos=1)
        ready.set()

    shown: dict[str, tuple[Any, ...]] = {}

    def on_message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if "/summary/" in msg.topic and not msg.topic.endswith(SHOWN_SUMMARIES):
            return  # every camera, kelurahan and kecamatan has one: show two
        try:
            body = json.loads(msg.payload)
        except ValueError:
            body = {"raw": msg.payload.decode(errors="replace")}
        received.append((msg.topic, body))
        if "/summary/" in msg.topic:
            print_summary(body, shown)
        elif msg.topic.endswith("/counts"):
            print(
                f"counts seq {body['seq']:>3} {body['camera_id']} "
                f"{body['window_start'][11:19]}–{body['window_end'][11:19]}: "
                f"people {body['people_seen']:>2}, masked {body['masked']:>2}, "
                f"unmasked {body['unmasked']:>2}, not judged {body.get('not_judged', 0):>2}, "
                f"frames {body['frames_processed']}/{body['frames_inferred']} inferred"
                f"{SUITABLE_SAYS[body.get('suitable')]}"
            )
        elif msg.topic.endswith("/status"):
            cams = ", ".join(
                f"{k} {v['fps']} fps {v['inference_ms']} ms"
                f"{SUITABLE_SAYS[(v.get('judgement') or {}).get('suitable')]}"
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


SUITABLE_SAYS = {None: "", True: ", view suitable", False: ", view NOT suitable"}


# ---- the dashboard's view of the summaries ----

SHOWN_SUMMARIES = ("/summary/city", f"/summary/kelurahan/{DEMO_KELURAHAN}")


def print_summary(body: dict[str, Any], shown: dict[str, tuple[Any, ...]]) -> None:
    """One line per summary whose figures changed since it was last shown."""
    per = body.get("periods", {})
    reporting = body.get("cameras", {}).get("reporting")
    figures = (reporting, *((p.get("people_seen"), p.get("masked")) for p in per.values()))
    if shown.get(body.get("code", "")) == figures:
        return
    shown[body.get("code", "")] = figures

    def fmt(p: dict[str, Any]) -> str:
        ratio, iv = p.get("compliance"), p.get("interval")
        # The interval beside the ratio (issue 16); with too few judged it says why there is none.
        ci = "" if not iv else f" (95% CI {iv['low']:.0%}-{iv['high']:.0%}, {iv['n']} judged)"
        return (f"{p.get('people_seen')} seen, {p.get('masked')} masked, "
                f"{p.get('unmasked')} unmasked, {p.get('not_judged', 0)} not judged, compliance "
                f"{'n/a, too few judged' if ratio is None else f'{ratio:.0%}'}{ci}")  # fmt: skip

    cams = body.get("cameras", {})
    age = body.get("freshness", {}).get("age_s")
    print(f"summary {body.get('level')} {body.get('name')}: last 20 min: {fmt(per['recent'])} | "
          f"today: {fmt(per['today'])} | "
          f"cameras {cams.get('reporting')}/{cams.get('expected')} reporting, "
          f"newest window {'-' if age is None else f'{age:.0f} s'} old")  # fmt: skip
