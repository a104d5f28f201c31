"""`siaga demo`'s central: collector, summaries and API on the embedded defaults, on SQLite in
the work folder, with synthetic civic samples so that the decision rules have data to act on."""

from __future__ import annotations

import argparse
import json
import socket
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

DEMO_KELURAHAN = "33.74.03.1006"  # Bugangan, Semarang Timur
SUMMARY_INTERVAL_S = 2.0
# Production publishes no ratio under 20 people; the sample clips show only a handful.
DEMO_MIN_PEOPLE = 1
CENTRAL_DB_FILES = ("central.sqlite3", "central.sqlite3-wal", "central.sqlite3-shm")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_central(args: argparse.Namespace, *, port: int, cameras: int,
                  ws_port: int | None = None) -> Any:  # fmt: skip
    """Central on SQLite in the work folder, fast summaries, API on args.port (0: a free one);
    None if central is not installed. With ws_port, the dashboard subscribes to the broker's
    WebSocket listener there (anonymous: a loopback-only demo broker)."""
    try:
        from central.config import (
            ApiSection,
            AreasSection,
            CentralConfig,
            CentralSection,
            DashboardSection,
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
        api=ApiSection(host="127.0.0.1", port=getattr(args, "port", 0) or free_port()),
        # the newest daily report and open data day are written at start (catch-up)
        report=ReportSection(output_dir=args.workdir / "reports"),
        opendata=OpendataSection(output_dir=args.workdir / "opendata"),
        rules=RulesSection(rules_file=demo_rules(args.workdir)),
        dashboard=DashboardSection(
            mqtt_ws_url=None if ws_port is None else f"ws://127.0.0.1:{ws_port}",
            public_mqtt=ws_port is not None),
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
    from demo.civic_history import HISTORY_DAYS, load_history

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
    first = local["cases"][0]  # the demo kelurahan's own cases start a fortnight ago
    c, a, r, d = (int(str(first[k])) for k in ("confirmed", "active", "recovered", "deaths"))
    anchor = (date.fromisoformat(str(first["date"])), c, a, r, d)
    history = load_history(svc.engine, codes, now.date(), extra={DEMO_KELURAHAN: anchor})
    print(f"civic: SYNTHETIC history of the {HISTORY_DAYS} days before for the city page: "
          + ", ".join(f"{n} {k} rows" for k, n in history.items()))  # fmt: skip


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

    from central.store import schema

    with svc.engine.connect() as conn:
        newest = conn.execute(select(func.max(schema.counts.c.window_end))).scalar()
    print_decisions(svc, newest)
    time.sleep(0.3)  # let the dashboard print the final summaries
    print(f"\ncentral stored {svc.store.count_rows()} of {delivered} count windows")
    from central.civic.institutions import add_institution

    # /gaps is operator data: a read token, as `siaga central institution add ID --read` issues.
    token = add_institution(svc.engine, "demo-operator", "Demo operator", modules=(), reader=True)
    auth = {"Authorization": f"Bearer {token}"}
    for path, headers in (("/summaries/city", {}), ("/gaps", auth)):
        with urlopen(Request(f"{svc.api_url}{path}", headers=headers), timeout=5) as r:
            body = json.loads(r.read())
        print(f"GET {svc.api_url}{path}{' (with a read token)' if headers else ''}\n{pretty(body)}")
    with urlopen(Request(f"{svc.api_url}/cameras", headers=auth), timeout=5) as r:
        cameras = json.loads(r.read())
    print(f"GET {svc.api_url}/cameras (with a read token): each camera's judgement")
    for cam in cameras:
        j = cam.get("judgement") or {}
        print(f"  {cam['camera_id']}: suitable {cam.get('suitable')} (newest window); judgement "
              f"{j.get('suitable')}, {j.get('judgeable')} of {j.get('faces')} faces judgeable"
              + (f": {j['reason']}" if j.get("reason") else ""))  # fmt: skip
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
