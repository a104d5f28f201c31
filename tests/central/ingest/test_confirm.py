"""Central's confirmations (central.ingest.confirm) and key-reuse conflicts
(central.store.conflicts), on
SQLite and PostgreSQL: the watermark moves only over what is committed, contiguously; a key
stored with other content is a recorded conflict, a true duplicate is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from central.ingest.confirm import Confirmer
from central.store.rows import CountRow, counts_row
from central.store.writes import Store
from siaga.wire import AckMessage, CountsMessage
from tests.central.summary_fixtures import A, counts_message

EPOCH = "E2eTestEpoch0001"
NOW = datetime.now(UTC).replace(microsecond=0)


def row(seq: int, *, epoch: str = EPOCH, people: int = 5, first: int | None = None) -> CountRow:
    base = counts_message("box1", "cam1", A, NOW + timedelta(minutes=seq), seq, people, 3, 1)
    msg = CountsMessage.model_validate({**base.model_dump(by_alias=True), "epoch": epoch or None,
                                        "first_unconfirmed": first})  # fmt: skip
    return counts_row(msg, received_at=datetime.now(UTC))


class Sent:
    def __init__(self) -> None:
        self.acks: list[AckMessage] = []

    def __call__(self, topic: str, payload: bytes) -> None:
        assert topic == "siaga/v1/box1/ack"
        self.acks.append(AckMessage.model_validate_json(payload))

    @property
    def last(self) -> int | None:
        return self.acks[-1].seq if self.acks else None


def commit(store: Store, confirmer: Confirmer, rows: list[CountRow], floor: int = 1) -> None:
    store.write_batch(counts=rows)
    confirmer.after_commit(rows, {("box1", EPOCH): floor})


def test_watermark_moves_over_committed_contiguous_seqs(store: Store) -> None:
    sent = Sent()
    c = Confirmer(store.engine, sent, prefix="siaga/v1")
    commit(store, c, [row(1), row(2), row(3)])
    assert sent.last == 3 and sent.acks[-1].epoch == EPOCH
    commit(store, c, [row(5), row(6)])  # 4 is missing: no further than 3
    assert sent.last == 3 and len(sent.acks) == 1
    commit(store, c, [row(4)])  # the hole filled: everything up to 6 at once
    assert sent.last == 6
    commit(store, c, [row(7)])
    assert [a.seq for a in sent.acks] == [3, 6, 7]


def test_a_new_collector_starts_from_the_agents_floor_and_the_store(store: Store) -> None:
    store.write_batch(counts=[row(s) for s in (10, 11, 12, 14)])  # stored by another collector
    sent = Sent()
    c = Confirmer(store.engine, sent, prefix="siaga/v1")
    # 1..9 were confirmed or dropped on the box (first_unconfirmed 10): confirmed through 13.
    commit(store, c, [row(13, first=10)], floor=10)
    assert sent.last == 14


def test_a_resent_window_is_confirmed_again(store: Store) -> None:
    sent = Sent()
    c = Confirmer(store.engine, sent, prefix="siaga/v1")
    commit(store, c, [row(1), row(2)])
    commit(store, c, [row(2)])  # the agent missed the confirmation and sent 2 again
    assert [a.seq for a in sent.acks] == [2, 2]


def test_agents_without_epoch_are_not_confirmed(store: Store) -> None:
    sent = Sent()
    c = Confirmer(store.engine, sent, prefix="siaga/v1")
    rows = [row(1, epoch=""), row(2, epoch="")]
    store.write_batch(counts=rows)
    assert c.after_commit(rows, {}) == 0 and sent.acks == []


def test_epochs_are_separate_series(store: Store) -> None:
    store.write_batch(counts=[row(1, epoch="OldEpochOfBox01"), row(2, epoch="OldEpochOfBox01")])
    new = [row(1), row(2)]  # the outbox was wiped: seq 1 again, under a new epoch
    conflicts: list = []
    assert store.write_batch(counts=new, conflicts=conflicts) == 2 and conflicts == []
    assert store.count_rows() == 4
    assert {(e, s) for _a, e, s in store.stored_epoch_keys()} == {
        ("OldEpochOfBox01", 1), ("OldEpochOfBox01", 2), (EPOCH, 1), (EPOCH, 2)}


def test_same_key_other_content_is_a_recorded_conflict(store: Store) -> None:
    assert store.write_batch(counts=[row(1), row(2)]) == 2
    conflicts: list = []
    # A true duplicate (redelivery) and a forgery reusing seq 2 with other counts.
    new = store.write_batch(counts=[row(1), row(2, people=99)], conflicts=conflicts)
    assert new == 0
    (c,) = conflicts
    assert c.reason == "seq_conflict" and c.topic == "siaga/v1/box1/cam1/counts"
    assert "seq 2" in c.detail and "people_seen: 5 → 99" in c.detail, c.detail
    assert store.reject_totals() == {"seq_conflict": 1}
    assert [r.reason for r in store.recent_rejects()] == ["seq_conflict"]
    # The first window under the key stays.
    assert store.count_rows() == 2


def test_a_new_collector_walks_over_quarantined_seqs(store: Store) -> None:
    from central.store.quarantine import Quarantined

    store.write_batch(counts=[row(1), row(3)],
                      quarantined=[Quarantined(row(2, people=10**6), "too_many_people", "x")])
    assert store.gaps() == []  # held, not missing
    sent = Sent()
    c = Confirmer(store.engine, sent, prefix="siaga/v1")
    commit(store, c, [row(4)])  # a collector that never saw 1..3: it reads what is held
    assert sent.last == 4
