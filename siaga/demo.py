"""`siaga demo`: the whole edge chain on the embedded defaults, on one machine.

Starts a private Mosquitto on a free loopback port, runs central (collector, summaries, HTTP
API) on a SQLite file in the work folder, runs the agent on sample videos from ../shared/video
with short count windows, and prints every counts message the broker delivers and the live
summaries of the city and the demo kelurahan, as a city dashboard would see them. At the end it
shows two API answers. Nothing but counts crosses the broker.
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
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

DEFAULT_VIDEOS = ("video/gituatu_mask.mp4", "video/gituatu_nomask.mp4", "video/916241958_mask.mp4")
DEMO_KELURAHAN = "33.74.03.1006"  # Bugangan, Semarang Timur
SUMMARY_INTERVAL_S = 2.0
# Production publishes no ratio under 20 people; the sample clips show only a handful.
DEMO_MIN_PEOPLE = 1


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
        help="a video file played as one camera (repeatable; default: three samples"
        " from $SIAGA_SHARED/video, as three cameras sharing one detector)",
    )
    p.add_argument("--model", default="siaga_facemask_v1")
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
    port = free_port()
    central: Any = None
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_mosquitto(port, Path(tmp))
        try:
            received = watch(port)
            cfg_path = args.workdir / "agent.toml"
            write_config(cfg_path, sources=sources, port=port, args=args)
            print(f"broker: mosquitto on 127.0.0.1:{port}; agent config: {cfg_path}")
            central = start_central(args, port=port, cameras=len(sources))
            service = AgentService(load_config(cfg_path))
            service.run(exit_when_sources_end=True)
            time.sleep(0.5)
            if central is not None:
                finish_central(central, delivered=sum(t.endswith("/counts") for t, _ in received))
        finally:
            if central is not None:
                central.shutdown()
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


# ---- central on the embedded defaults ----

CENTRAL_DB_FILES = ("central.sqlite3", "central.sqlite3-wal", "central.sqlite3-shm")
SHOWN_SUMMARIES = ("/summary/city", f"/summary/kelurahan/{DEMO_KELURAHAN}")


def start_central(args: argparse.Namespace, *, port: int, cameras: int) -> Any:
    """Central on SQLite in the work folder, fast summaries, API on a free port; None if absent."""
    try:
        from central.config import (
            ApiSection,
            AreasSection,
            CentralConfig,
            CentralSection,
            MqttSection,
            OpendataSection,
            ReportSection,
            RulesSection,
            StorageSection,
            SummariesSection,
        )
        from central.service import CentralService
    except ImportError as exc:
        print(
            f"central is not installed ({exc.name}): pip install -e '.[central]'; "
            "showing the edge chain only"
        )
        return None
    geo = args.shared / "geo"
    if not (geo / "semarang_wilayah.csv").is_file():
        print(f"area files not found under {geo} (set SIAGA_SHARED): showing the edge chain only")
        return None
    registry = args.workdir / "cameras.toml"
    registry.write_text(
        "".join(
            f'[[cameras]]\nagent_id = "demo-box"\ncamera_id = "cam{i + 1}"\n'
            f'kelurahan_code = "{DEMO_KELURAHAN}"\nname = "demo camera {i + 1}"\n\n'
            for i in range(cameras)
        )
    )
    db = (args.workdir / CENTRAL_DB_FILES[0]).resolve()
    cfg = CentralConfig(
        central=CentralSection(instance="demo-central"),
        mqtt=MqttSection(host="127.0.0.1", port=port),
        storage=StorageSection(url=f"sqlite:///{db}", batch_max_wait_ms=50),
        areas=AreasSection(wilayah_csv=geo / "semarang_wilayah.csv",
                           kelurahan_geojson=geo / "semarang_kelurahan.geojson",
                           cameras_file=registry),
        summaries=SummariesSection(interval_s=SUMMARY_INTERVAL_S,
                                   min_people_for_ratio=DEMO_MIN_PEOPLE, stale_after_s=30),
        api=ApiSection(host="127.0.0.1", port=free_port()),
        # the newest daily report and open data day are written at start (catch-up)
        report=ReportSection(output_dir=args.workdir / "reports"),
        opendata=OpendataSection(output_dir=args.workdir / "opendata"),
        rules=RulesSection(rules_file=demo_rules(args.workdir)),
    )  # fmt: skip
    svc = CentralService(cfg, notify=lambda *_: False)
    load_civic_samples(svc)
    print(f"central: SQLite {db}; summaries every {SUMMARY_INTERVAL_S:g} s (ratio from "
          f"{DEMO_MIN_PEOPLE} person in the demo, 20 in production); API {svc.api_url} "
          f"(docs {svc.api_url}/docs)")  # fmt: skip
    svc.start()
    svc.collector.wait_ready(5)
    print_decisions(svc)  # what the civic data alone calls for
    return svc


def print_decisions(svc: Any, now: datetime | None = None) -> None:
    """Run the decision rules once (at `now`, default the clock) and print every alert that
    opened, changed or resolved."""
    areas = svc.areas
    names = {
        **{c: k.name for c, k in areas.kelurahan.items()},
        **{c: k.name for c, k in areas.kecamatan.items()},
        areas.kota_code: areas.kota_name,
    }
    for e in svc.rules.run(now) if svc.rules is not None else []:
        print(f"decision: {e.event} ({e.severity}) {e.rule} in "
              f"{names.get(e.area_code, e.area_code)}: {e.reason}")  # fmt: skip


def demo_rules(workdir: Path) -> Path:
    """The default rules, except that a demo minute with a few people may judge compliance."""
    path = workdir / "rules.toml"
    path.write_text("# siaga demo: production defaults are window_min = 20, min_people = 20\n"
                    "[low_compliance]\nwindow_min = 0.3\n"
                    f"min_people = {DEMO_MIN_PEOPLE}\n")  # fmt: skip
    return path


def load_civic_samples(svc: Any) -> None:
    """The synthetic civic sample files (dates moved to today) and synthetic recent cases, a
    population and a low-stock pharmacy for the demo cameras' kelurahan, so that rules fire."""
    from zoneinfo import ZoneInfo

    from central.civic.common import AreaCodes
    from central.civic.samples import EXAMPLES, load_local, load_samples, local_rows

    now = datetime.now(ZoneInfo("Asia/Jakarta"))
    codes = AreaCodes(kota=svc.areas.kota_code, kelurahan=frozenset(svc.areas.kelurahan))
    rows = load_samples(svc.engine, codes, now=now)
    kel = svc.areas.kelurahan[DEMO_KELURAHAN]
    lng, lat = kel.centroid or (110.42, -6.98)
    local = local_rows(DEMO_KELURAHAN, lat=lat, lng=lng, today=now.date(), now=now)
    added = load_local(svc.engine, codes, local, now=now)
    print(f"civic: SYNTHETIC sample data from {EXAMPLES} (dates moved to today): "
          + ", ".join(f"{n} {k} rows" for k, n in rows.items())
          + f"; synthetic for {kel.name}: "
          + ", ".join(f"{n} {k} rows" for k, n in added.items()))  # fmt: skip


def print_summary(body: dict[str, Any], shown: dict[str, tuple[Any, ...]]) -> None:
    """One line per summary whose figures changed since it was last shown."""
    per = body.get("periods", {})
    reporting = body.get("cameras", {}).get("reporting")
    figures = (reporting, *((p.get("people_seen"), p.get("masked")) for p in per.values()))
    if shown.get(body.get("code", "")) == figures:
        return
    shown[body.get("code", "")] = figures

    def fmt(p: dict[str, Any]) -> str:
        ratio = p.get("compliance")
        return (f"{p.get('people_seen')} seen, {p.get('masked')} masked, "
                f"{p.get('unmasked')} unmasked, compliance "
                f"{'n/a' if ratio is None else f'{ratio:.0%}'}")  # fmt: skip

    cams = body.get("cameras", {})
    age = body.get("freshness", {}).get("age_s")
    print(f"summary {body.get('level')} {body.get('name')}: last 20 min: {fmt(per['recent'])} | "
          f"today: {fmt(per['today'])} | "
          f"cameras {cams.get('reporting')}/{cams.get('expected')} reporting, "
          f"newest window {'-' if age is None else f'{age:.0f} s'} old")  # fmt: skip


def finish_central(svc: Any, *, delivered: int) -> None:
    """Let ingest catch up, publish final summaries, and show what the API answers."""
    from urllib.request import Request, urlopen

    deadline = time.monotonic() + 5
    while svc.store.count_rows() < delivered and time.monotonic() < deadline:
        time.sleep(0.1)
    svc.summary_pass(wait_s=2)
    # Now with the cameras' counts, judged as of the newest window (the demo's minute of counts
    # stands in for the 20 minutes production asks for: see demo_rules).
    from sqlalchemy import func, select

    from central import schema

    with svc.engine.connect() as conn:
        newest = conn.execute(select(func.max(schema.counts.c.window_end))).scalar()
    print_decisions(svc, newest)
    time.sleep(0.3)  # let the dashboard print the final summaries
    print(f"\ncentral stored {svc.store.count_rows()} of {delivered} count windows")
    from central.civic.institutions import add_institution

    # /gaps is operator data: a read token, as `siaga central institution add ID --read` issues.
    token = add_institution(svc.engine, "demo-operator", "Demo operator", modules=(), reader=True)
    for path, auth in (("/summaries/city", {}), ("/gaps", {"Authorization": f"Bearer {token}"})):
        with urlopen(Request(f"{svc.api_url}{path}", headers=auth), timeout=5) as r:
            body = json.loads(r.read())
        print(f"GET {svc.api_url}{path}{' (with a read token)' if auth else ''}\n{pretty(body)}")
    od = svc.cfg.opendata.output_dir
    files = sorted(p.name for p in od.glob("kelurahan-daily-*.csv")) if od.is_dir() else []
    print(f"open data (per kelurahan, no personal data): {od}: {', '.join(files) or 'none yet'}")


def pretty(value: Any, indent: int = 0) -> str:
    """JSON with the outer two levels of objects opened, one line per key, when over 80 chars."""
    one = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict) or not value or indent >= 4 or len(one) + indent <= 80:
        return one
    pad = " " * (indent + 2)
    items = [f"{pad}{json.dumps(k)}: {pretty(v, indent + 2)}" for k, v in value.items()]
    return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
