"""Issue 22 in the store, on SQLite and PostgreSQL: migration 0009 adds `suitable` to counts and
quarantine (rows from before read NULL, downgrade drops it again), and the collector over real
Mosquitto stores each window's flag, an older agent's message (no not_judged, no suitable)
still accepted and counted as fully judged."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import column, insert, inspect, select, table

from central.areas import sync_areas
from central.config import SummariesSection
from central.ingest.collector import Collector
from central.store import schema
from central.store.engine import make_engine
from central.store.migrations import _alembic_config, migrate
from central.store.writes import Store
from central.summaries import Summarizer
from siaga.wire import CountsMessage, counts_topic
from tests.central.ingest.test_ingest import MODEL, central_config, publish
from tests.central.summary_fixtures import A, B, count_row, registry, small_areas
from tests.mqtt_broker import MosquittoBroker, wait_until

WAIT_S = 30.0
END = datetime.now(UTC).replace(second=0, microsecond=0)  # the last closed minute


def _suitable(engine: Any, t: Any) -> dict[tuple[str, int], bool | None]:
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.agent_id, t.c.seq, t.c.suitable))
        return {(a, int(s)): v for a, s, v in rows}


def test_migration_adds_suitable_keeps_rows_and_downgrades(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert migrate(engine, "0008") == "0008"  # a database of the release before
        old = {**count_row("old", "cam1", A, END, 1, 10, 6, 4), "epoch": ""}
        quarantined = {**old, "seq": 2, "reason": "too_old", "detail": "test"}
        with engine.begin() as conn:  # bare table clauses: the tables as 0008 left them
            conn.execute(insert(table("counts", *map(column, old))), [old])
            conn.execute(insert(table("quarantine", *map(column, quarantined))), [quarantined])
        assert migrate(engine) == "0009"
        assert _suitable(engine, schema.counts) == {("old", 1): None}  # from before: not assessed
        assert _suitable(engine, schema.quarantine) == {("old", 2): None}
        Store(engine).insert_counts([{**old, "seq": 3, "suitable": False},
                                     {**old, "seq": 4, "suitable": True}])  # fmt: skip
        assert _suitable(engine, schema.counts) == {("old", 1): None, ("old", 3): False,
                                                    ("old", 4): True}  # fmt: skip

        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0008")
        for name in ("counts", "quarantine"):
            assert "suitable" not in {c["name"] for c in inspect(engine).get_columns(name)}
        with engine.connect() as conn:
            seqs: list[Any] = list(conn.execute(select(column("seq")).select_from(table("counts"))))
            assert sorted(int(s) for (s,) in seqs) == [1, 3, 4]  # the rows stay, without their flag
        assert migrate(engine) == "0009"  # and up again
    finally:
        engine.dispose()


def _message(agent: str, camera: str, seq: int, kel: str, *, people: int, masked: int,
             unmasked: int, **over: Any) -> CountsMessage:  # fmt: skip
    return CountsMessage(
        agent_id=agent, seq=seq, camera_id=camera, site="pasar", kelurahan_code=kel,
        window_start=END - timedelta(minutes=1), window_end=END, people_seen=people,
        masked=masked, unmasked=unmasked, occupancy_mean=1.0, occupancy_max=3,
        frames_processed=600, frames_inferred=300, model=MODEL, epoch="judgedBoxEpoch", **over,
    )  # fmt: skip


def _as_older_agent(msg: CountsMessage) -> bytes:
    """The payload an agent from before mask judgement sends: neither key at all."""
    d = json.loads(msg.to_payload())
    del d["not_judged"], d["suitable"]
    return json.dumps(d).encode()


def test_collector_stores_the_flag_and_accepts_older_agents(
    central_mosquitto: MosquittoBroker, store: Store, db_url: str,
    collector_factory: Callable[..., Collector],
) -> None:  # fmt: skip
    sync_areas(store.engine, small_areas())
    older = _message("box1", "cam1", 1, A, people=30, masked=24, unmasked=6)
    judging = _message("box1", "cam2", 2, A, people=40, masked=10, unmasked=10, not_judged=20,
                       suitable=True)  # fmt: skip
    wide = _message("box2", "cam1", 1, B, people=300, masked=2, unmasked=1, not_judged=297,
                    suitable=False)  # fmt: skip
    # Over 600 people a minute: quarantined, with its flag.
    crowd = _message("box2", "cam9", 2, B, people=5000, masked=0, unmasked=0, not_judged=5000,
                     suitable=False)  # fmt: skip
    payloads = [(counts_topic("box1", "cam1"), _as_older_agent(older), False)]
    payloads += [(counts_topic(m.agent_id, m.camera_id), m.to_payload(), False)
                 for m in (judging, wide, crowd)]  # fmt: skip
    c = collector_factory(central_config(central_mosquitto, db_url), store)
    assert c.wait_ready(10)
    publish(central_mosquitto, payloads)
    assert wait_until(lambda: c.metrics()["stored"] == 3
                      and c.metrics()["quarantined"] == {"too_many_people": 1}, WAIT_S), (
        c.metrics())  # fmt: skip
    assert c.metrics()["rejected_total"] == 0  # the older payload is accepted
    assert _suitable(store.engine, schema.counts) == {("box1", 1): None, ("box1", 2): True,
                                                      ("box2", 1): False}  # fmt: skip
    assert _suitable(store.engine, schema.quarantine) == {("box2", 2): False}

    areas = small_areas()
    cfg = SummariesSection(min_people_for_ratio=20)
    got = {(s.level, s.key): s.payload
           for s in Summarizer(store.engine, cfg, areas, registry(areas)).compute(END)}  # fmt: skip
    old = got[("camera", "box1/cam1")]["periods"]["recent"]
    # The older agent's people were all judged: no "not judged" invented for it.
    assert (old["people_seen"], old["judged"], old["not_judged"], old["compliance"]) == (
        30, 30, 0, 0.8)  # fmt: skip
    assert got[("camera", "box1/cam1")]["suitable"] is None
    assert (got[("camera", "box1/cam2")]["suitable"], got[("camera", "box2/cam1")]["suitable"]) == (
        True, False)  # fmt: skip
    a = got[("kelurahan", A)]["periods"]["recent"]
    assert (a["people_seen"], a["judged"], a["not_judged"], a["compliance"]) == (70, 50, 20, 0.68)
    b = got[("kelurahan", B)]["periods"]["recent"]  # the wide camera: seen, not judged
    assert (b["people_seen"], b["masked"], b["unmasked"]) == (300, 0, 0)
    assert b["unsuitable_people"] == 300
    assert b["compliance"] is None
