"""Issue 14 end to end: one box's hostile windows through real Mosquitto and the collector, on
SQLite and PostgreSQL. Each is quarantined or rejected with its reason; the summaries computed
after them equal those computed from the honest windows alone; quarantined windows are shown by
GET /quarantine and /metrics, and count as delivered for the agent's confirmation."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from central.api.app import ApiContext
from central.api.metrics import render_metrics
from central.api.quarantine import quarantine_router
from central.areas import sync_areas
from central.config import SummariesSection
from central.ingest.collector import Collector
from central.ingest.confirm import Confirmer
from central.store import quarantine, schema
from central.store.writes import Store
from central.summaries import Summarizer, SummaryBoard
from siaga.wire import AckMessage, CountsMessage, counts_topic
from tests.central.ingest.test_ingest import MODEL, central_config, publish
from tests.central.summary_fixtures import A, B, count_row, insert_rows, registry, small_areas
from tests.mqtt_broker import MosquittoBroker, wait_until
from tests.prom import value

WAIT_S = 30.0
EPOCH1, EPOCH2 = "honestBox1Epoch", "honestBox2Epoch"
TEN_MILLION = 10_000_000
# The last closed minute when the module was loaded: honest windows end at or before it.
END = datetime.now(UTC).replace(second=0, microsecond=0)


def message(agent: str, camera: str, seq: int, start: datetime, end: datetime, *,
            people: int, masked: int, unmasked: int, kel: str = A,
            epoch: str | None = EPOCH1) -> CountsMessage:  # fmt: skip
    return CountsMessage(
        agent_id=agent, seq=seq, camera_id=camera, site="pasar", kelurahan_code=kel,
        window_start=start, window_end=end, people_seen=people, masked=masked, unmasked=unmasked,
        occupancy_mean=1.0, occupancy_max=3, frames_processed=600, frames_inferred=300,
        model=MODEL, epoch=epoch,
    )  # fmt: skip


def honest() -> list[CountsMessage]:
    """Five minutes of box1/cam1 in A and box2/cam1 in B: compliance 0.8 and 0.5."""
    out = []
    for k in range(5):
        end = END - timedelta(minutes=4 - k)
        start = end - timedelta(minutes=1)
        out.append(message("box1", "cam1", k + 1, start, end, people=30, masked=20, unmasked=5))
        out.append(message("box2", "cam1", k + 1, start, end, people=12, masked=5, unmasked=5,
                           kel=B, epoch=EPOCH2))  # fmt: skip
    return out


def _json(msg: CountsMessage, **over: Any) -> bytes:
    d = json.loads(msg.to_payload())
    d.update(over)
    return json.dumps(d).encode()


def _minute(seq: int, camera: str, **kw: Any) -> CountsMessage:
    kw = {"people": 500, "masked": 0, "unmasked": 500, **kw}
    return message("box1", camera, seq, END - timedelta(minutes=1), END, **kw)


# (name, camera, payload, "quarantine" | "reject", reason): all on box1's own topics, and each
# would have moved the city's compliance had it been merged.
HOSTILE: list[tuple[str, str, Callable[[str], bytes], str, str]] = [
    ("one 10-day window of 10,000,000 unmasked", "h1", lambda cam: message(
        "box1", cam, 101, END - timedelta(days=10), END, people=TEN_MILLION, masked=0,
        unmasked=TEN_MILLION).to_payload(), "quarantine", "window_length"),
    ("a window in 2099", "h2", lambda cam: message(
        "box1", cam, 102, datetime(2099, 6, 1, tzinfo=UTC), datetime(2099, 6, 1, 0, 1, tzinfo=UTC),
        people=500, masked=0, unmasked=500).to_payload(), "quarantine", "future_window"),
    ("an unknown kelurahan code", "h3",
     lambda cam: _minute(103, cam, kel="33.74.99.9999").to_payload(),
     "quarantine", "unknown_kelurahan"),
    ("10,000,000 unmasked in one minute", "h4", lambda cam: _minute(
        104, cam, people=TEN_MILLION, unmasked=TEN_MILLION).to_payload(),
     "quarantine", "too_many_people"),
    ("a window 500 days old", "h5", lambda cam: message(
        "box1", cam, 105, END - timedelta(days=500, minutes=1), END - timedelta(days=500),
        people=500, masked=0, unmasked=500).to_payload(), "quarantine", "too_old"),
    ("seq 2^63-1", "h6", lambda cam: _minute(2**63 - 1, cam).to_payload(),
     "reject", "seq_out_of_range"),
    ("seq a billion ahead", "h7", lambda cam: _minute(5 + 10**9, cam).to_payload(),
     "reject", "seq_jump"),
    ('"6" for people_seen', "h8", lambda cam: _json(
        _minute(108, cam, people=6, unmasked=6), people_seen="6"), "reject", "schema_invalid"),
    ("5.0 for unmasked", "h9", lambda cam: _json(
        _minute(109, cam, people=5, unmasked=5), unmasked=5.0), "reject", "schema_invalid"),
    ("true for masked", "h10", lambda cam: _json(
        _minute(110, cam, people=5, unmasked=4), masked=True), "reject", "schema_invalid"),
]  # fmt: skip


def handled(c: Collector, n: int) -> Callable[[], bool]:
    def done() -> bool:
        m = c.metrics()
        seen = m["stored"] + m["duplicates"] + m["rejected_total"] + sum(m["quarantined"].values())
        return seen >= n and m["queue_depth"] == 0

    return done


def summaries(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    areas = small_areas()
    s = Summarizer(store.engine, SummariesSection(), areas, registry(areas))  # a fresh cache
    return {(x.level, x.key): x.payload for x in s.compute(END + timedelta(seconds=30))}


def test_hostile_windows_are_quarantined_or_rejected_and_move_nothing(
    central_mosquitto: MosquittoBroker, store: Store, db_url: str,
    collector_factory: Callable[..., Collector],
) -> None:  # fmt: skip
    sync_areas(store.engine, small_areas())  # the registry the kelurahan codes are judged by
    c = collector_factory(central_config(central_mosquitto, db_url), store)
    assert c.wait_ready(10)
    good = honest()
    publish(central_mosquitto, [(counts_topic(m.agent_id, m.camera_id), m.to_payload(), False)
                                for m in good])  # fmt: skip
    assert wait_until(handled(c, len(good)), WAIT_S), c.metrics()
    before = summaries(store)
    assert before[("city", "")]["periods"]["recent"]["compliance"] is not None

    publish(central_mosquitto, [(counts_topic("box1", cam), make(cam), False)
                                for _n, cam, make, _k, _r in HOSTILE])  # fmt: skip
    assert wait_until(handled(c, len(good) + len(HOSTILE)), WAIT_S), c.metrics()

    with store.engine.connect() as conn:
        held = {r.camera_id: r.reason
                for r in conn.execute(select(schema.quarantine.c.camera_id,
                                             schema.quarantine.c.reason))}  # fmt: skip
        rejected = {r.topic.split("/")[3]: r.reason
                    for r in conn.execute(select(schema.rejects.c.topic,
                                                 schema.rejects.c.reason))}  # fmt: skip
    for name, cam, _make, kind, reason in HOSTILE:
        got = held.get(cam) if kind == "quarantine" else rejected.get(cam)
        assert got == reason, f"{name}: {kind} {reason!r} expected, got {got!r}"
        assert cam not in (held if kind == "reject" else rejected), name
    assert store.stored_epoch_keys() == {(m.agent_id, m.epoch, m.seq) for m in good}
    assert summaries(store) == before  # the city, every area and camera: unmoved

    expected = Counter(r for _n, _c, _m, kind, r in HOSTILE if kind == "quarantine")
    assert c.metrics()["quarantined"] == dict(expected)
    text = render_metrics(ApiContext(engine=store.engine, board=SummaryBoard(),
                                     cameras=registry(small_areas()), ingest_metrics=c.metrics))
    assert value(text, "siaga_central_ingest_quarantined_total", reason="window_length") == 1
    assert value(text, "siaga_central_ingest_rejected_total", reason="seq_jump") == 1

    # Merged, the first of them alone would have made the city's compliance 0.0001-ish.
    insert_rows(store.engine, [count_row("box1", "h1", A, END, 101, TEN_MILLION, 0, TEN_MILLION,
                                         window_s=10 * 86_400)])  # fmt: skip
    bent = summaries(store)[("city", "")]["periods"]["recent"]["compliance"]
    assert bent is not None and bent < 0.001


def test_get_quarantine_newest_first_with_reasons(
    central_mosquitto: MosquittoBroker, store: Store, db_url: str,
    collector_factory: Callable[..., Collector],
) -> None:  # fmt: skip
    sync_areas(store.engine, small_areas())
    c = collector_factory(central_config(central_mosquitto, db_url), store)
    assert c.wait_ready(10)
    bad = [(cam, make(cam), r) for _n, cam, make, kind, r in HOSTILE if kind == "quarantine"]
    for i, (cam, payload, _r) in enumerate(bad):  # one at a time: received one after the other
        publish(central_mosquitto, [(counts_topic("box1", cam), payload, False)])
        assert wait_until(handled(c, i + 1), WAIT_S), c.metrics()
    app = FastAPI()
    app.include_router(quarantine_router(store.engine))
    client = TestClient(app)
    body = client.get("/quarantine").json()
    assert body["count"] == len(bad)
    assert [w["camera_id"] for w in body["windows"]] == [cam for cam, _p, _r in reversed(bad)]
    assert all(w["reason"] and w["detail"] for w in body["windows"])
    assert body["totals"] == dict(Counter(r for _c, _p, r in bad))
    one = client.get("/quarantine", params={"reason": "too_old", "limit": 5}).json()
    assert [w["camera_id"] for w in one["windows"]] == ["h5"]
    assert one["windows"][0]["window_end"].startswith(str((END - timedelta(days=500)).date()))
    assert client.get("/quarantine", params={"reason": "nonsense"}).status_code == 422
    assert client.get("/quarantine", params={"limit": 5000}).status_code == 422


class Acks:
    def __init__(self) -> None:
        self.seqs: dict[str, int] = {}

    def __call__(self, topic: str, payload: bytes) -> None:
        ack = AckMessage.model_validate_json(payload)
        self.seqs[ack.agent_id] = ack.seq


def test_a_quarantined_window_is_delivered_for_confirmation(
    central_mosquitto: MosquittoBroker, store: Store, db_url: str,
    collector_factory: Callable[..., Collector],
) -> None:  # fmt: skip
    sync_areas(store.engine, small_areas())
    acks = Acks()
    confirmer = Confirmer(store.engine, acks, prefix="siaga/v1")
    c = collector_factory(central_config(central_mosquitto, db_url), store, confirmer=confirmer)
    assert c.wait_ready(10)
    msgs = [m for m in honest() if m.agent_id == "box1"][:3]
    msgs[1] = msgs[1].model_copy(update={"people_seen": 5000, "unmasked": 4000})  # seq 2
    publish(central_mosquitto, [(counts_topic("box1", "cam1"), m.to_payload(), False)
                                for m in msgs])  # fmt: skip
    assert wait_until(lambda: acks.seqs.get("box1") == 3, WAIT_S), (acks.seqs, c.metrics())
    assert store.stored_keys() == {("box1", 1), ("box1", 3)}
    with store.engine.connect() as conn:
        assert quarantine.delivered_seqs(conn, "box1", EPOCH1, above=0, limit=10) == [1, 2, 3]
        assert quarantine.delivered_seqs(conn, "box1", EPOCH1, above=1, limit=1) == [2]
        assert quarantine.quarantined_seqs(conn, "box1", EPOCH1, first=1, last=3) == [2]
        assert quarantine.quarantined_seqs(conn, "box1", "other", first=1, last=3) == []
    # Held, not missing: no gap where the quarantined window is.
    assert store.gaps() == []
    (summary,) = store.seq_summary("box1")
    assert (summary.first_seq, summary.last_seq, summary.stored, summary.missing) == (1, 3, 3, 0)
