from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent.counter import Window, WindowCounter
from siaga.wire import CountsMessage, ModelInfo

WIB = timezone(timedelta(hours=7))


def at(hms: str, day: int = 1) -> datetime:
    h, m, s = hms.split(":")
    sec = float(s)
    return datetime(2021, 7, day, int(h), int(m), int(sec), round(sec % 1 * 1e6), tzinfo=WIB)


def spans(windows: list[Window]) -> list[tuple[str, str]]:
    return [(w.start.strftime("%H:%M:%S"), w.end.strftime("%H:%M:%S")) for w in windows]


@pytest.mark.parametrize(
    ("window_s", "t", "start", "end"),
    [
        (60, "10:00:37", "10:00:00", "10:01:00"),
        (60, "10:00:00", "10:00:00", "10:01:00"),
        (60, "10:00:59.999", "10:00:00", "10:01:00"),
        (300, "10:07:59", "10:05:00", "10:10:00"),
        (10, "10:00:25", "10:00:20", "10:00:30"),
        (3600, "10:59:00", "10:00:00", "11:00:00"),
    ],
)
def test_window_alignment(window_s, t, start, end):
    c = WindowCounter(window_s)
    c.frame(at(t), inferred=True, occupancy=0)
    (w,) = c.close_due(at(t) + timedelta(seconds=window_s))
    assert spans([w]) == [(start, end)]
    assert w.start.utcoffset() == timedelta(hours=7)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param("10:00:59", [], id="window not over yet"),
        pytest.param("10:01:00", [("10:00:00", "10:01:00")], id="end == now closes"),
        pytest.param(
            "10:03:30",
            [("10:00:00", "10:01:00"), ("10:01:00", "10:02:00"), ("10:02:00", "10:03:00")],
            id="empty windows after the first frame",
        ),
    ],
)
def test_close_due(now, expected):
    c = WindowCounter(60)
    c.frame(at("10:00:10"), inferred=True, occupancy=1)
    out = c.close_due(at(now))
    assert spans(out) == expected
    assert [w.frames_processed for w in out] == [1, 0, 0][: len(out)]
    assert c.close_due(at(now)) == []  # each window is returned once


def test_no_window_before_the_first_frame():
    c = WindowCounter(60)
    assert c.close_due(at("10:00:00")) == []
    c.frame(at("10:05:30"), inferred=False)
    assert spans(c.close_due(at("10:07:00"))) == [
        ("10:05:00", "10:06:00"),
        ("10:06:00", "10:07:00"),
    ]


def test_person_counted_in_the_window_of_last_sighting():
    c = WindowCounter(60, grace_s=2.0)
    c.frame(at("10:00:30"), inferred=True, occupancy=1)
    assert c.close_due(at("10:01:01")) == []  # grace: the track may still finish
    # The tracker reports the track at 10:01:01.2, 1.5 s after its last sighting.
    c.person(at("10:00:59.7"), masked=True)
    c.person(at("10:01:00.5"), masked=False)
    (w,) = c.close_due(at("10:01:02"))
    assert (w.people_seen, w.masked, w.unmasked) == (1, 1, 0)
    (w2,) = c.close_due(at("10:02:02"))
    assert (w2.people_seen, w2.masked, w2.unmasked) == (1, 0, 1)


def test_late_event_joins_the_earliest_open_window():
    c = WindowCounter(60)
    c.frame(at("10:00:30"), inferred=True, occupancy=1)
    c.close_due(at("10:01:00"))
    c.person(at("10:00:50"), masked=False)  # its window was already published
    (w,) = c.close_due(at("10:02:00"))
    assert spans([w]) == [("10:01:00", "10:02:00")] and w.unmasked == 1


def test_occupancy_and_frame_counts():
    c = WindowCounter(60)
    for i, (inferred, occ) in enumerate([(True, 0), (True, 2), (False, 9), (True, 4)]):
        c.frame(at(f"10:00:{10 + i}"), inferred=inferred, occupancy=occ)
    for masked in (True, True, False):
        c.person(at("10:00:20"), masked=masked)
    (w,) = c.close_due(at("10:01:00"))
    assert w.occupancy_mean == pytest.approx(2.0)  # (0 + 2 + 4) / 3 inferred frames
    assert (w.occupancy_max, w.frames_processed, w.frames_inferred) == (4, 4, 3)
    assert (w.people_seen, w.masked, w.unmasked) == (3, 2, 1)


def test_forward_clock_jump_skips_the_empty_gap():
    c = WindowCounter(60, max_catchup_s=3600)
    c.frame(at("10:00:10"), inferred=True, occupancy=0)
    c.person(at("10:00:20"), masked=True)
    out = c.close_due(at("10:00:30", day=4))  # NTP stepped the clock three days ahead
    assert spans(out) == [("10:00:00", "10:01:00")] and out[0].masked == 1
    assert c.skipped_windows == 3 * 24 * 60 - 1
    c.frame(at("10:00:40", day=4), inferred=True, occupancy=0)
    assert spans(c.close_due(at("10:01:00", day=4))) == [("10:00:00", "10:01:00")]


def test_short_gap_is_reported_as_outage():
    c = WindowCounter(60, max_catchup_s=3600)
    c.frame(at("10:00:10"), inferred=True)
    out = c.close_due(at("10:30:00"))
    assert len(out) == 30 and sum(w.frames_processed for w in out) == 1
    assert c.skipped_windows == 0


def test_backward_clock_jump_restarts_counting():
    c = WindowCounter(60)
    c.frame(at("10:05:10"), inferred=True, occupancy=1)
    c.person(at("10:05:20"), masked=False)
    out = c.close_due(at("09:00:00"))  # the clock went back an hour
    assert spans(out) == [("10:05:00", "10:06:00")] and out[0].unmasked == 1
    assert c.clock_jumps == 1
    c.frame(at("09:00:05"), inferred=True, occupancy=2)
    (w,) = c.close_due(at("09:01:00"))
    assert spans([w]) == [("09:00:00", "09:01:00")] and w.occupancy_max == 2


def test_small_backward_step_is_absorbed():
    c = WindowCounter(60)
    c.frame(at("10:00:58"), inferred=True)
    assert c.close_due(at("10:00:55")) == []
    c.frame(at("10:00:56"), inferred=True)
    (w,) = c.close_due(at("10:01:00"))
    assert w.frames_processed == 2 and c.clock_jumps == 0


@pytest.mark.parametrize(
    ("now", "expected_frames"),
    [
        pytest.param("10:02:20", [1, 0, 1], id="partial window included"),
        pytest.param("10:03:30", [1, 0, 1, 0], id="idle current window included"),
        pytest.param("10:02:05", [1, 0, 1], id="data ahead of the clock included"),
    ],
)
def test_close_all_returns_the_partial_window(now, expected_frames):
    c = WindowCounter(60, grace_s=2.0)
    c.frame(at("10:00:10"), inferred=True)
    c.frame(at("10:02:10"), inferred=True)
    c.person(at("10:02:15"), masked=True)
    out = c.close_all(at(now))
    assert [w.frames_processed for w in out] == expected_frames
    assert sum(w.masked for w in out) == 1
    assert c.close_all(at(now)) == []


def test_close_all_before_any_frame():
    assert WindowCounter(60).close_all(at("10:00:00")) == []


def test_naive_time_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        WindowCounter(60).frame(datetime(2021, 7, 1, 10), inferred=True)


def test_utc_input_keeps_its_zone():
    c = WindowCounter(60)
    c.frame(datetime(2021, 7, 1, 3, 0, 5, tzinfo=UTC), inferred=True)
    (w,) = c.close_due(datetime(2021, 7, 1, 3, 1, tzinfo=UTC))
    assert w.start == datetime(2021, 7, 1, 3, 0, tzinfo=UTC) and w.start.tzinfo is UTC


def test_window_fits_the_wire_contract():
    c = WindowCounter(60)
    c.frame(at("10:00:10"), inferred=True, occupancy=1)
    c.person(at("10:00:20"), masked=True)
    (w,) = c.close_due(at("10:01:00"))
    msg = CountsMessage(
        agent_id="box1",
        seq=0,
        camera_id="cam1",
        site="Pasar Johar",
        kelurahan_code="33.74.01.1001",
        window_start=w.start,
        window_end=w.end,
        people_seen=w.people_seen,
        masked=w.masked,
        unmasked=w.unmasked,
        occupancy_mean=w.occupancy_mean,
        occupancy_max=w.occupancy_max,
        frames_processed=w.frames_processed,
        frames_inferred=w.frames_inferred,
        model=ModelInfo(name="m", version="1", sha256="0" * 64),
    )
    assert b'"window_start":"2021-07-01T10:00:00+07:00"' in msg.to_payload()


def test_people_not_judged_are_seen_but_neither_masked_nor_unmasked():
    c = WindowCounter(60)
    c.frame(at("10:00:10"), inferred=True, occupancy=3)
    for masked in (True, None, None, False):
        c.person(at("10:00:20"), masked=masked)
    (w,) = c.close_due(at("10:01:00"))
    assert (w.people_seen, w.masked, w.unmasked, w.not_judged) == (4, 1, 1, 2)
