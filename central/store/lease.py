"""A lease in the database: one central instance at a time runs the once-only jobs.

Several central instances may share one database (several collectors on a shared subscription,
or a standby). Ingest, summaries and the API run on all of them; the decision rules with their
alerts, the daily provincial report and the open-data files (with CKAN) must run on one only,
or alerts go out twice and reports are written and uploaded twice. The instance holding the
lease "jobs" runs them; it renews the lease every ttl/3, and when it stops (released at once) or
dies (lapses after ttl) another instance takes it over. Instances' clocks must agree to well
within the ttl (NTP); a holder that could not renew for 2/3 of the ttl stops on its own.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from central.store import schema

log = logging.getLogger(__name__)

JOBS = "jobs"


def holder_id(instance: str) -> str:
    """A holder name unique to this process: instance, host, pid and a random suffix."""
    return f"{instance}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """One named lease; `held()` says whether this process may run the job now."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        holder: str,
        *,
        ttl_s: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.engine, self.name, self.holder, self.ttl_s = engine, name, holder, ttl_s
        self._clock = clock
        self._on_change = on_change
        self._valid_until = 0.0  # monotonic: held until then unless renewed
        self._held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def held(self) -> bool:
        """True while the last successful renewal is recent enough (2/3 of the ttl)."""
        return self._held and time.monotonic() < self._valid_until

    def current_holder(self) -> str | None:
        """Who holds the lease according to the database (None: nobody, or it lapsed)."""
        t = schema.leases
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.c.holder, t.c.expires_at).where(t.c.name == self.name)
            ).first()
        if row is None or row.expires_at <= self._clock():
            return None
        return str(row.holder)

    def try_hold(self) -> bool:
        """Take the lease if free or lapsed, renew it if ours; True when we hold it now."""
        started = time.monotonic()
        now = self._clock()
        t = schema.leases
        values = {"name": self.name, "holder": self.holder, "acquired_at": now,
                  "expires_at": now + timedelta(seconds=self.ttl_s)}  # fmt: skip
        ins = (postgresql.insert(t) if self.engine.dialect.name == "postgresql"
               else sqlite.insert(t)).values(**values)  # fmt: skip
        ours = t.c.holder == self.holder
        stmt = ins.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "holder": ins.excluded.holder,
                "expires_at": ins.excluded.expires_at,
                # kept while we renew; a takeover starts a new tenure
                "acquired_at": case((ours, t.c.acquired_at), else_=ins.excluded.acquired_at),
            },
            where=ours | (t.c.expires_at <= now),
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(stmt)
                got = conn.execute(select(t.c.holder).where(t.c.name == self.name)).scalar()
        except Exception as exc:  # the database away: we cannot know, so we do not hold it
            log.warning("lease %s: cannot renew (%s)", self.name, str(exc).splitlines()[0][:200])
            self._set(False)
            return False
        mine = got == self.holder
        if mine:
            self._valid_until = started + self.ttl_s * 2 / 3
        self._set(mine)
        return mine

    def release(self) -> None:
        """Give the lease up now (clean shutdown), so another instance takes it at once."""
        self._set(False)
        t = schema.leases
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(t).where((t.c.name == self.name) & (t.c.holder == self.holder)))
        except Exception as exc:
            log.warning("lease %s: cannot release (%s); it lapses in %.0f s", self.name,
                        str(exc).splitlines()[0][:200], self.ttl_s)  # fmt: skip

    def _set(self, held: bool) -> None:
        if held != self._held:
            self._held = held
            log.info("lease %s: %s by %s", self.name, "held" if held else "not held", self.holder)
            if self._on_change is not None:
                self._on_change(held)

    # ---- renewal in the background ----

    def start(self) -> None:
        """Try now, then every ttl/3 in a thread."""
        self.try_hold()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{self.name}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            self.try_hold()

    def stop(self) -> None:
        """Stop renewing and release."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.release()
