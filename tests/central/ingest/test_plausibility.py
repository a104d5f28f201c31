"""Plausibility on ingest, without a broker: each rule, table-driven, and what agents really send.

Honest windows (every window size an agent may use, the partial window at shutdown, a clock a
little ahead, a backlog) pass; the hostile cases of issue 14 are quarantined or rejected with
their reason. central/ingest/plausibility.py says why each bound is what it is.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent.counter import WindowCounter
from central.ingest.batch import Chunk, RateLimitedLog, classify
from central.ingest.plausibility import (
    QUARANTINE_REASONS,
    Limits,
    Plausibility,
    length_problem,
    seq_problem,
    window_problems,
)
from central.ingest.validate import check
from siaga.wire import CountsMessage, ModelInfo, counts_topic

NOW = datetime(2026, 12, 5, 8, 30, 12, tzinfo=UTC)  # when central received the window
END = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)  # the last closed minute
KNOWN = frozenset({"33.74.01.1001", "33.74.02.1001"})
MODEL = ModelInfo(name="m", version="1", sha256="0" * 64)
LIMITS = Limits()


def window(start: datetime, end: datetime, *, people: int = 10, masked: int = 6,
           unmasked: int = 3, seq: int = 1, kel: str = "33.74.01.1001",
           epoch: str | None = None) -> CountsMessage:  # fmt: skip
    """One window of box1/cam1."""
    return CountsMessage(
        agent_id="box1", seq=seq, camera_id="cam1", site="pasar", kelurahan_code=kel,
        window_start=start, window_end=end, people_seen=people, masked=masked,
        unmasked=unmasked, occupancy_mean=1.0, occupancy_max=2, frames_processed=100,
        frames_inferred=50, model=MODEL, epoch=epoch,
    )  # fmt: skip


def minute(end: datetime = END, **kw: Any) -> CountsMessage:
    return window(end - timedelta(minutes=1), end, **kw)


S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("name", "msg"),
    [
        ("60 s window", minute()),
        ("5 s window", window(END - 5 * S, END, people=50, masked=20, unmasked=30)),
        ("10 s window", window(END - 10 * S, END)),
        ("15 min window", window(END - 15 * 60 * S, END, people=9000, masked=0, unmasked=9000)),
        ("1 h window", window(END - 3600 * S, END)),
        ("a minute not on the minute", window(END - 90 * S, END - 30 * S)),
        ("partial, starts on a minute", window(END, END + 17 * S)),
        ("partial, ends on a minute", window(END - 23 * S, END)),
        ("shutdown: the current window, whole", window(END, END + 60 * S)),
        ("shutdown of a 15 min window", window(END, END + 900 * S)),
        ("begins 2 min after it was received", window(NOW + 120 * S, NOW + 180 * S)),
        ("399 days old (a backlog)", minute(END - timedelta(days=399))),
        ("600 people in a minute", minute(people=600, masked=300, unmasked=300)),
        ("the other kelurahan", minute(kel="33.74.02.1001")),
    ],
)
def test_honest_windows_pass(name: str, msg: CountsMessage) -> None:
    assert window_problems(msg, NOW, LIMITS, KNOWN) == [], name


TEN_MILLION = 10_000_000


@pytest.mark.parametrize(
    ("name", "msg", "reason", "also"),
    [
        ("issue 14: one 10-day window of 10,000,000 unmasked",
         window(END - timedelta(days=10), END, people=TEN_MILLION, masked=0, unmasked=TEN_MILLION),
         "window_length", {"too_many_people"}),
        ("issue 14: a window in 2099",
         window(datetime(2099, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, 0, 1, tzinfo=UTC)),
         "future_window", set()),
        ("issue 14: an unknown kelurahan code", minute(kel="33.74.99.9999"),
         "unknown_kelurahan", set()),
        ("10,000,000 unmasked in one minute",
         minute(people=TEN_MILLION, masked=0, unmasked=TEN_MILLION), "too_many_people", set()),
        ("601 people in a minute", minute(people=601, masked=0, unmasked=601),
         "too_many_people", set()),
        ("51 people in 5 s", window(END - 5 * S, END, people=51, masked=0, unmasked=51),
         "too_many_people", set()),
        ("begins 3 min ahead", window(NOW + 180 * S, NOW + 240 * S), "future_window", set()),
        ("older than 400 days", minute(END - timedelta(days=401)), "too_old", set()),
        ("61 s off every boundary", window(END - 62 * S, END - 1 * S), "window_length", set()),
        ("2 h long", window(END - 7200 * S, END), "window_length", set()),
        ("7 s off every boundary", window(END - 59 * S, END - 52 * S), "window_length", set()),
        ("1.5 s off every boundary", window(END - timedelta(milliseconds=500), END + 1 * S),
         "window_length", set()),
    ],
)  # fmt: skip
def test_hostile_windows_are_quarantined_with_their_reason(
    name: str, msg: CountsMessage, reason: str, also: set[str]
) -> None:
    found = window_problems(msg, NOW, LIMITS, KNOWN)
    assert found and found[0][0] == reason, (name, found)
    assert {r for r, _d in found[1:]} == also, name
    assert all(detail for _r, detail in found)
    assert [r for r, _d in found] == sorted((r for r, _d in found), key=QUARANTINE_REASONS.index)


def test_no_registry_no_kelurahan_check() -> None:
    # An empty `kelurahan` table (no area files loaded): nothing to judge the code by.
    assert window_problems(minute(kel="33.74.99.9999"), NOW, LIMITS, frozenset()) == []


def test_age_horizon_follows_retention() -> None:
    from central.config import PlausibilitySection

    assert Limits.of(PlausibilitySection()).max_age_s == 400 * 86_400
    assert Limits.of(PlausibilitySection(), retention_days=30).max_age_s == 30 * 86_400
    assert Limits.of(PlausibilitySection(max_age_days=90), 30).max_age_s == 90 * 86_400
    old = minute(END - timedelta(days=31))
    assert [r for r, _ in window_problems(old, NOW, Limits.of(PlausibilitySection(), 30))] == [
        "too_old"
    ]


@pytest.mark.parametrize("window_s", [5, 10, 30, 60, 300, 900, 3600])
def test_what_the_agent_counter_emits_passes(window_s: int) -> None:
    """Every configured size, closed normally and at shutdown (the current window, whole)."""
    counter = WindowCounter(window_s)
    t = datetime.now(UTC)
    counter.frame(t - timedelta(seconds=2 * window_s), inferred=True, occupancy=1)
    counter.person(t - timedelta(seconds=window_s), masked=True)
    windows = counter.close_all(t)
    assert len(windows) >= 2
    sizes = LIMITS.sizes()
    for w in windows:
        assert length_problem(w.start, w.end, sizes) is None
        msg = window(w.start, w.end, people=w.people_seen, masked=w.masked, unmasked=w.unmasked)
        assert window_problems(msg, t, LIMITS, KNOWN) == []


# ---- seqs ----

NEWEST = (1000, END - timedelta(hours=1))  # the epoch's newest stored window


@pytest.mark.parametrize(
    ("name", "seq", "end", "newest", "reason"),
    [
        ("issue 14: seq 2^63-1", 2**63 - 1, END, NEWEST, "seq_out_of_range"),
        ("2^63-1 in a new epoch", 2**63 - 1, END, None, "seq_out_of_range"),
        ("just above 2^40", 2**40 + 1, END, None, "seq_out_of_range"),
        ("a new epoch starting anywhere below 2^40", 5_000_000, END, None, None),
        ("the next seq", 1001, END, NEWEST, None),
        ("a redelivery", 1000, END - timedelta(hours=1), NEWEST, None),
        ("a late window", 990, END - timedelta(hours=1, minutes=10), NEWEST, None),
        ("an hour of outbox drops at the most", 1000 + 100_000 + 36_000, END, NEWEST, None),
        ("a billion ahead", 1000 + 10**9, END, NEWEST, "seq_jump"),
        ("just over the allowance", 1000 + 100_000 + 36_123, END, NEWEST, "seq_jump"),
        ("far below, claiming the same time", 1, END - timedelta(hours=1), (10**9, NEWEST[1]),
         "seq_jump"),
        ("below, a day earlier", 10**9 - 900_000, END - timedelta(days=1, hours=1),
         (10**9, NEWEST[1]), None),
    ],
)
def test_seq_bounds(name: str, seq: int, end: datetime, newest: Any, reason: str | None) -> None:
    got = seq_problem(minute(end, seq=seq), NOW, LIMITS, newest)
    assert (got[0] if got else None) == reason, (name, got)


# ---- strict types, and the collector's sorting ----


def _payload(**over: Any) -> bytes:
    d = json.loads(minute(seq=7).to_payload())
    d.update(over)
    return json.dumps(d).encode()


@pytest.mark.parametrize(
    ("name", "over"),
    [
        ('issue 14: "6" for people_seen', {"people_seen": "6", "masked": 0, "unmasked": 6}),
        ("issue 14: 5.0 for unmasked", {"unmasked": 5.0}),
        ("issue 14: true for masked", {"masked": True}),
        ("a float seq", {"seq": 7.0}),
        ("a string seq", {"seq": "7"}),
        ("a number for a time", {"window_end": 1_796_545_800}),
    ],
)
def test_strict_types_are_rejected(name: str, over: dict[str, Any]) -> None:
    out = check(counts_topic("box1", "cam1"), _payload(**over), prefix="siaga/v1",
                max_payload_bytes=65536)  # fmt: skip
    assert (out.reason, out.counts) == ("schema_invalid", None), name


def test_agent_payloads_still_pass_strict() -> None:
    for msg in (minute(seq=7), minute(seq=8, epoch="abcdEFGH1234")):
        out = check(counts_topic("box1", "cam1"), msg.to_payload(), prefix="siaga/v1",
                    max_payload_bytes=65536)  # fmt: skip
        assert out.reason is None and out.counts == msg
    # Offsets other than Z, as an agent in Asia/Jakarta writes them.
    wib = _payload(window_start="2026-12-05T15:29:00+07:00", window_end="2026-12-05T15:30:00+07:00")
    assert check(counts_topic("box1", "cam1"), wib, prefix="siaga/v1",
                 max_payload_bytes=65536).counts is not None  # fmt: skip


def test_classify_sorts_stored_quarantined_rejected() -> None:
    judge = Plausibility(LIMITS, kelurahan=KNOWN)
    topic = counts_topic("box1", "cam1")
    pubs = [
        (minute(seq=1).to_payload(), "stored"),
        (minute(seq=2, people=TEN_MILLION, masked=0, unmasked=TEN_MILLION).to_payload(),
         "too_many_people"),
        (minute(seq=3, kel="33.74.99.9999").to_payload(), "unknown_kelurahan"),
        (minute(seq=2**63 - 1).to_payload(), "seq_out_of_range"),
        (_payload(seq=4, people_seen="6", masked=0, unmasked=6), "schema_invalid"),
        (minute(seq=5).to_payload(), "stored"),
    ]  # fmt: skip
    chunk = Chunk(NOW.timestamp(), 1, [(topic, p, len(p), i + 1, 1, b"")
                                       for i, (p, _w) in enumerate(pubs)])  # fmt: skip
    batch = classify([chunk], prefix="siaga/v1", max_payload_bytes=65536, camera_kelurahan=None,
                     reject_log=RateLimitedLog(), plausibility=judge)  # fmt: skip
    assert [r.seq for r in batch.counts] == [1, 5]
    assert [(q.row.seq, q.reason) for q in batch.quarantined] == [
        (2, "too_many_people"), (3, "unknown_kelurahan")]  # fmt: skip
    assert all(q.detail for q in batch.quarantined)
    assert [r.reason for r in batch.rejects] == ["seq_out_of_range", "schema_invalid"]
    assert batch.acks == {1: [1, 2, 3, 4, 5, 6]}  # every one acknowledged: none redelivered


# ---- what the judge reads from the database (SQLite and PostgreSQL) ----


def test_judge_reads_newest_seqs_and_the_registry(store: Any) -> None:
    from central.areas import sync_areas
    from central.store.rows import counts_row
    from tests.central.summary_fixtures import small_areas

    epoch = "abcdEFGH1234"
    store.write_batch(counts=[counts_row(minute(END - timedelta(hours=1), seq=s, epoch=epoch),
                                         received_at=NOW) for s in (1, 2, 500)])  # fmt: skip
    clock = [0.0]
    judge = Plausibility(LIMITS, engine=store.engine, refresh_s=60, clock=lambda: clock[0])
    many = [minute(seq=1, epoch=f"other{i:04d}xx") for i in range(250)]  # three queries' worth
    jump = minute(seq=500 + 10**9, epoch=epoch)
    unknown = minute(seq=501, epoch=epoch, kel="33.74.99.9999")
    judge.prepare([jump, unknown, *many])
    assert judge.judge(jump, NOW).reject == "seq_jump"
    assert judge.judge(unknown, NOW) == (None, None, "")  # no registry in the database yet
    assert judge.judge(minute(seq=10**9, epoch="other0003xx"), NOW).reject is None  # new epoch
    sync_areas(store.engine, small_areas())
    judge.prepare([unknown])
    assert judge.judge(unknown, NOW).quarantine is None  # read again only every refresh_s
    clock[0] = 61.0
    judge.prepare([unknown])
    assert judge.judge(unknown, NOW).quarantine == "unknown_kelurahan"
    stored = minute(seq=502, epoch=epoch, kel="33.74.01.1001")
    assert judge.judge(stored, NOW) == (None, None, "")
    assert judge.judge(minute(seq=502 + 10**9, epoch=epoch), NOW).reject == "seq_jump"
