"""The dashboard at city scale, in headless Chromium: applying a round of summaries, memory after
an hour of them, and the size of what the page loads.

Set-up: a real central on the 177 kelurahan of Semarang with the simulated fleet's cameras
(`siaga simulate agents --per-agent`: agent sim-NNNNN, camera cam1, kelurahan codes[i % 177]),
16,400 by default, registered; one count window per camera in the last minute (the simulator's
random figures) so that one real summary pass yields city-scale payloads (cameras expected and
reporting, civic figures). A real Mosquitto with its WebSocket listener; the operations view
subscribed over MQTT over WebSockets, exactly as in the operations room.

Rounds: central publishes every summary each minute; an hour is compressed into `--rounds`
rounds (60) published back to back, each the real pass's 194 area payloads (177 kelurahan, 16
kecamatan, the city) with new figures and a computed_at one minute later, retained at QoS 1 as
central's publisher sends them. Per round: the page's own time applying it (its handlers and the
flush that repaints the map, the list and the header: `__siaga.stats.busyMs`) and the wall time
from the first publish to the repaint. Baseline in the same page and run: JSON.parse of the
round's 194 payloads (the floor any consumer pays); the apply figure is also given as a ratio to
it. Memory: the JS heap (performance.memory, after a forced GC) before the first and after the
last round. Sizes: the page's assets (raw and gzip -9) and the data it reads at start.

    python -m benchmarks.dashboard [--cameras 16400] [--rounds 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.sim.messages import kelurahan_codes
from central.web.vendor_refresh import MANIFEST
from siaga.wire import summary_topic
from tests.central.summary_fixtures import count_row, insert_rows
from tests.central.web.dashboard_fixtures import (
    central_config,
    chromium,
    load_civic,
    open_dashboard,
    shared_geo,
    wait_for,
)
from tests.mqtt_broker import MosquittoBroker

STATIC = Path(__file__).resolve().parents[1] / "central" / "web" / "static"
OWN = ("index.html", "app.js", "i18n.js", "colour.js", "map.js", "live.js", "panel.js", "alerts.js",
       "style.css")  # fmt: skip
PAGE_FILES = (*(f"dashboard/{f}" for f in OWN), "vendor/leaflet/leaflet.js",
              "vendor/leaflet/leaflet.css", "vendor/uplot/uPlot.iife.min.js",
              "vendor/uplot/uPlot.min.css")  # fmt: skip
MQTT_FILE = "vendor/mqtt/mqtt.min.js"  # loaded only when a broker URL is configured
HEAP_JS = "return performance.memory.usedJSHeapSize"


def fleet(n: int) -> list[tuple[str, str, str]]:
    """The simulated fleet's cameras: (agent, camera, kelurahan), as central/sim/fleet.py."""
    codes = kelurahan_codes()
    width = len(str(n - 1))
    return [(f"sim-{i:0{width}d}", "cam1", codes[i % len(codes)]) for i in range(n)]


def seed_counts(svc: Any, cams: list[tuple[str, str, str]], rng: random.Random) -> None:
    """One window per camera ending a minute ago (figures as the simulator draws them)."""
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    rows = []
    for agent, camera, kel in cams:
        people = rng.randrange(0, 60)
        masked = rng.randrange(0, people + 1)
        rows.append(count_row(agent, camera, kel, end, 1, people, masked,
                              rng.randrange(0, people - masked + 1)))  # fmt: skip
    for i in range(0, len(rows), 2000):
        insert_rows(svc.engine, rows[i : i + 2000])


def next_round(payloads: list[dict[str, Any]], r: int, rng: random.Random) -> list[bytes]:
    """The pass's payloads a minute later per round, with new recent figures."""
    out = []
    for p in payloads:
        q = json.loads(json.dumps(p))
        at = datetime.fromisoformat(q["computed_at"]) + timedelta(minutes=r + 1)
        q["computed_at"] = at.isoformat()
        rec = q["periods"]["recent"]
        judged = rng.randrange(20, 400)
        masked = rng.randrange(0, judged + 1)
        rec.update(people_seen=judged + rng.randrange(0, 50), masked=masked,
                   unmasked=judged - masked, judged=judged,
                   compliance=round(masked / judged, 4))  # fmt: skip
        out.append(json.dumps(q, separators=(",", ":")).encode())
    return out


def sizes() -> dict[str, Any]:
    """Bytes of the page's assets, raw and gzip -9 (what a compressing proxy would send)."""

    def both(paths: tuple[str, ...]) -> dict[str, int]:
        raw = [(STATIC / p).read_bytes() for p in paths]
        return {"raw": sum(map(len, raw)), "gzip": sum(len(gzip.compress(b, 9)) for b in raw)}

    versions = {p["name"]: p["version"] for p in json.loads(MANIFEST.read_text())["packages"]}
    return {"page": both(PAGE_FILES), "mqtt_js": both((MQTT_FILE,)), "libraries": versions}


def run(cameras: int, rounds: int, tmp: Path) -> dict[str, Any]:
    from central.civic.institutions import add_institution
    from central.service import CentralService

    shared_geo()
    rng = random.Random(0)
    cams = fleet(cameras)
    broker = MosquittoBroker(tmp / "mosquitto", websockets=True).start()
    out: dict[str, Any] = {"cameras": cameras, "kelurahan": len({k for *_, k in cams}),
                           "rounds": rounds}  # fmt: skip
    with contextlib.ExitStack() as stack:
        stack.callback(broker.kill)
        cfg = central_config(broker, tmp, ws_url=broker.ws_url, cameras=tuple(cams))
        svc = CentralService(cfg, notify=lambda *_: False)
        load_civic(svc)
        seed_counts(svc, cams, rng)
        svc.start()
        stack.callback(svc.stop)
        t0 = time.perf_counter()
        svc.summary_pass(wait_s=30)
        out["central_pass_s"] = round(time.perf_counter() - t0, 2)
        token = add_institution(svc.engine, "bench", "Benchmark", modules=(), reader=True)
        auth = {"Authorization": f"Bearer {token}"}
        api = str(svc.api_url)
        data = {}
        for path, headers in (("/areas?boundaries=true", {}), ("/summaries/kelurahan", {}),
                              ("/cameras", auth)):  # fmt: skip
            t0 = time.perf_counter()
            body = httpx.get(api + path, headers=headers, timeout=120).content
            data[path] = {"bytes": len(body), "gzip": len(gzip.compress(body, 9)),
                          "s": round(time.perf_counter() - t0, 2)}  # fmt: skip
        out["data"] = data
        payloads = [s.payload for lvl in ("city", "kecamatan", "kelurahan")
                    for s in svc.board.of_level(lvl)]  # fmt: skip
        out["payloads_per_round"] = len(payloads)
        drv = chromium(tmp)
        stack.callback(drv.quit)
        t0 = time.perf_counter()
        open_dashboard(drv, _City(api, token), "ops")
        wait_for(drv, "return document.getElementById('conn').dataset.state === 'mqtt'",
                 what="MQTT")  # fmt: skip
        out["page_ready_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        wait_for(drv, "return window.__siaga.cameras.length > 0", timeout_s=120, what="cameras")
        out["camera_layer_s"] = round(time.perf_counter() - t0, 2)
        time.sleep(1.0)  # the retained messages of the first subscription are applied
        out["heap_start_bytes"] = heap_now(drv)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-central",
                          protocol=mqtt.MQTTv5)  # fmt: skip
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        stack.callback(pub.loop_stop)
        prefix = cfg.mqtt.topic_prefix
        topics = [summary_topic(p["level"], "" if p["level"] == "city" else p["code"], prefix)
                  for p in payloads]  # fmt: skip
        apply_ms, wall_ms, parse_ms = [], [], []
        heap = [heap_now(drv)]
        for r in range(rounds):
            bodies = next_round(payloads, r, rng)
            before = drv.execute_script("return {...window.__siaga.stats}")
            sent_at = time.time()
            infos = [
                pub.publish(t, b, qos=1, retain=True) for t, b in zip(topics, bodies, strict=True)
            ]
            for info in infos:
                info.wait_for_publish(10)
            want = before["received"] + len(bodies)
            wait_for(drv, "const s = window.__siaga.stats; return s.received >= arguments[0] && "
                     "window.__siaga.dirty.size === 0 && s.lastFlushAt", want, timeout_s=30,
                     what=f"round {r}")  # fmt: skip
            after = drv.execute_script("return {...window.__siaga.stats}")
            apply_ms.append(after["busyMs"] - before["busyMs"])
            wall_ms.append(after["lastFlushAt"] - sent_at * 1000)
            if (r + 1) % 10 == 0:
                heap.append(heap_now(drv))
            parse_ms.append(drv.execute_script(
                "const t0 = performance.now(); for (const b of arguments[0]) JSON.parse(b);"
                "return performance.now() - t0", [b.decode() for b in bodies]))  # fmt: skip
        out["heap_end_bytes"] = heap_now(drv)
        out["heap_every_10_rounds_mb"] = [round(h / 2**20, 1) for h in heap]
        out["apply_ms"] = _stats(apply_ms)
        out["publish_to_painted_ms"] = _stats(wall_ms)
        out["baseline_parse_ms"] = _stats(parse_ms)
        out["apply_over_parse"] = round(
            statistics.median(apply_ms) / statistics.median(parse_ms), 1
        )
    out["assets"] = sizes()
    return out


def heap_now(drv: Any) -> int:
    """The page's JS heap in use after a full garbage collection (DevTools protocol)."""
    drv.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    return int(drv.execute_script(HEAP_JS))


class _City:
    """What open_dashboard needs of a city: its URL and a read token."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token


def _stats(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    return {"median": round(statistics.median(v), 1), "p90": round(v[int(0.9 * (len(v) - 1))], 1),
            "max": round(v[-1], 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=16_400)
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="siaga-dash-bench-") as tmp:
        result = run(args.cameras, args.rounds, Path(tmp))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
