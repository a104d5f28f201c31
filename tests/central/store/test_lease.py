"""The jobs lease: one holder at a time, renewal, release, takeover after a lapse (SQLite, PG)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from central.store import schema
from central.store.lease import Lease, holder_id


class Clock:
    """A wall clock the test moves by hand (the lease's expiry is wall-clock time)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_one_holder_renewal_release_and_takeover(engine: Engine) -> None:
    clock = Clock()
    a = Lease(engine, "jobs", "a", ttl_s=30, clock=clock)
    b = Lease(engine, "jobs", "b", ttl_s=30, clock=clock)
    assert a.try_hold() and a.held()
    assert not b.try_hold() and not b.held()
    assert a.current_holder() == b.current_holder() == "a"
    with engine.connect() as conn:
        first = conn.execute(select(schema.leases.c.acquired_at)).scalar_one()
    clock.now += timedelta(seconds=20)
    assert a.try_hold()  # renewal moves the expiry on, keeps the tenure's start
    clock.now += timedelta(seconds=20)  # 40 s after taking it, 20 s after renewing
    assert not b.try_hold() and a.try_hold()
    with engine.connect() as conn:
        row = conn.execute(select(schema.leases)).one()
    assert row.holder == "a" and row.acquired_at == first
    assert row.expires_at == clock.now + timedelta(seconds=30)
    a.release()
    assert not a.held() and a.current_holder() is None
    assert b.try_hold() and b.held()
    # b dies without releasing: a takes over only once b's lease has lapsed.
    clock.now += timedelta(seconds=29)
    assert not a.try_hold()
    clock.now += timedelta(seconds=2)
    assert a.current_holder() is None  # lapsed
    assert a.try_hold() and a.current_holder() == "a"
    with engine.connect() as conn:
        assert conn.execute(select(schema.leases.c.acquired_at)).scalar_one() == clock.now
    assert not b.try_hold() and not b.held()  # the old holder learns it lost it


def test_held_lapses_locally_without_renewal(engine: Engine) -> None:
    lease = Lease(engine, "jobs", "a", ttl_s=0.3)
    assert lease.try_hold() and lease.held()
    time.sleep(0.25)  # 2/3 of the ttl without a renewal: stop running the jobs
    assert not lease.held()


def test_racing_instances_never_both_hold(engine: Engine) -> None:
    leases = [Lease(engine, "jobs", holder_id(f"central-{i}"), ttl_s=30) for i in range(4)]
    won: list[bool] = []
    barrier = threading.Barrier(len(leases))

    def race(lease: Lease) -> None:
        barrier.wait()
        won.append(lease.try_hold())

    threads = [threading.Thread(target=race, args=(lease,)) for lease in leases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(won) == [False, False, False, True]
    assert sum(lease.held() for lease in leases) == 1


def test_background_renewal_and_handover_on_stop(engine: Engine) -> None:
    changes: list[tuple[str, bool]] = []
    a = Lease(engine, "jobs", "a", ttl_s=0.6, on_change=lambda h: changes.append(("a", h)))
    b = Lease(engine, "jobs", "b", ttl_s=0.6, on_change=lambda h: changes.append(("b", h)))
    a.start()
    b.start()
    try:
        time.sleep(1.5)  # several renewals: a keeps it throughout
        assert a.held() and not b.held()
        a.stop()  # releases: b takes it at its next try (every ttl/3)
        deadline = time.monotonic() + 3
        while not b.held() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b.held()
    finally:
        b.stop()
    assert changes == [("a", True), ("a", False), ("b", True), ("b", False)]
