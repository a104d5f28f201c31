"""Mask judgement end to end: a real agent on real clips → Mosquitto → central → summaries,
/cameras, the daily report and open data; an older agent's message beside it.

The agent has two cameras: the wide campus view (`vtest_sda`, faces 4-16 px: nobody can be
judged) and a close-up of one masked person (`gituatu_mask`). The wide camera's people must be
stored and summed, its mask state never judged, the camera shown as not suitable everywhere; the
close-up and the older agent's windows (no `not_judged`, all judged) make the compliance.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from agent.config import AgentConfig
from agent.service import AgentService
from central.opendata.build import build_opendata
from central.report.build import build_report
from central.service import CentralService
from central.store import schema
from tests.agent.test_worker import make_clip
from tests.central.api_fixtures import reader_headers
from tests.central.summary_fixtures import A, counts_message
from tests.central.test_service import agent_publish, make_config
from tests.mqtt_broker import MosquittoBroker, wait_until
from tests.prom import value

pytestmark = pytest.mark.slow
WIB = ZoneInfo("Asia/Jakarta")
CITY = "33.74"  # small_areas()' kota


def agent_config(broker: MosquittoBroker, tmp: Path, wide: Path, close: Path) -> AgentConfig:
    return AgentConfig.model_validate({
        "agent": {"id": "box1", "site": "kampus", "kelurahan_code": A},
        "cameras": [{"id": "cam1", "source": str(wide)}, {"id": "cam2", "source": str(close)}],
        "counting": {"window_s": 10},
        "mqtt": {"host": broker.host, "port": broker.port, "confirm": "central"},
        "outbox": {"path": str(tmp / "outbox.sqlite3")},
        "health": {"status_interval_s": 1},
    })  # fmt: skip


def stored(engine, agent: str) -> int:
    with engine.connect() as conn:
        q = select(func.count()).where(schema.counts.c.agent_id == agent)
        return int(conn.execute(q.select_from(schema.counts)).scalar_one())


def test_a_wide_view_is_counted_but_not_judged_anywhere(mosquitto, shared: Path, tmp_path: Path):
    video = shared / "video"
    # 25 s of the campus (250 frames at 10 fps: > 30 faces for the verdict) and 4 s of close-up.
    wide = make_clip(video / "vtest_sda.mp4", tmp_path / "wide.mp4", frames=250, fps=10)
    close = make_clip(video / "gituatu_mask.mp4", tmp_path / "close.mp4", frames=100, fps=25)
    cfg = make_config(mosquitto, tmp_path)
    cfg = cfg.model_copy(update={"summaries": cfg.summaries.model_copy(
        update={"min_people_for_ratio": 1})})  # fmt: skip
    svc = CentralService(cfg)
    runner = threading.Thread(target=svc.run)
    runner.start()
    try:
        assert svc.collector.wait_ready(10)
        now = datetime.now(UTC)
        # An agent before judgement: no not_judged, no suitable; 10 people, all judged.
        agent_publish(mosquitto, [counts_message("box-old", "cam1", A, now, 1, 10, 6, 4)])
        agent = AgentService(agent_config(mosquitto, tmp_path, wide, close))
        agent.run(exit_when_sources_end=True)
        sent = agent.outbox.last_seq() or 0
        assert sent >= 3
        metrics = agent.health.render_metrics()  # what the box's Prometheus endpoint serves
        assert value(metrics, "siaga_agent_people_judged_total", camera="cam1") == 0
        assert value(metrics, "siaga_agent_people_judged_total", camera="cam2") == 1
        assert wait_until(lambda: stored(svc.engine, "box1") == sent, timeout_s=20)
        assert wait_until(lambda: stored(svc.engine, "box-old") == 1, timeout_s=5)

        c = schema.counts.c
        with svc.engine.connect() as conn:
            rows = conn.execute(select(c.camera_id, c.people_seen, c.masked, c.unmasked,
                                       c.suitable).where(c.agent_id == "box1")
                                .order_by(c.window_end)).all()  # fmt: skip
        wide_rows = [r for r in rows if r.camera_id == "cam1"]
        wide_people = sum(r.people_seen for r in wide_rows)
        assert wide_people >= 1, "the campus clip's people must still be counted"
        assert sum(r.masked + r.unmasked for r in wide_rows) == 0
        assert wide_rows[-1].suitable is False
        close_rows = [r for r in rows if r.camera_id == "cam2"]
        assert (sum(r.masked for r in close_rows), sum(r.unmasked for r in close_rows)) == (1, 0)

        # Summaries, as the dashboard reads them (the API serves the board's payloads).
        assert svc.api_url is not None
        api = httpx.Client(base_url=svc.api_url, headers=reader_headers(svc.engine), timeout=5)

        def city() -> dict:
            return api.get("/summaries/city").json()["periods"]["7d"]

        assert wait_until(lambda: city()["people_seen"] == wide_people + 1 + 10, timeout_s=15)
        seven = city()
        assert (seven["masked"], seven["unmasked"], seven["judged"]) == (7, 4, 11)
        assert seven["not_judged"] == wide_people and seven["unsuitable_people"] == wide_people
        assert seven["compliance"] == round(7 / 11, 4)  # the wide view changes nothing

        cams = {f"{x['agent_id']}/{x['camera_id']}": x for x in api.get("/cameras").json()}
        assert cams["box1/cam1"]["suitable"] is False
        judgement = cams["box1/cam1"]["judgement"]
        assert judgement["suitable"] is False and "too small" in judgement["reason"]
        assert cams["box1/cam2"]["judgement"]["suitable"] is not False

        # The daily report and open data of the day whose 12:00 cut-off follows now.
        local = datetime.now(WIB)
        day = local.date() + timedelta(days=1 if local.hour >= 12 else 0)
        report = build_report(svc.engine, day, WIB, min_people_for_ratio=1)
        figures = ("people_seen", "masked", "unmasked", "judged", "not_judged", "mask_compliance")
        got = {f: report.get(CITY, f).value for f in figures}
        assert got == {"people_seen": wide_people + 11, "masked": 7, "unmasked": 4, "judged": 11,
                       "not_judged": wide_people, "mask_compliance": round(7 / 11, 4)}  # fmt: skip
        data = build_opendata(svc.engine, day, WIB, min_people_for_ratio=1)
        row = next(r for r in data.kelurahan if r["kelurahan_code"] == A)
        assert (row["people_seen"], row["judged"], row["not_judged"], row["mask_compliance"]) == (
            wide_people + 11, 11, wide_people, round(7 / 11, 4))  # fmt: skip
    finally:
        svc.stop()
        runner.join(30)
