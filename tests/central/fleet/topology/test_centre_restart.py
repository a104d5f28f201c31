"""Scenario 2 of issue 20: the centre broker restarted while a site keeps publishing.

The site broker takes the agents' windows throughout; its bridge reconnects to the restarted
centre (the centre kept the bridge's session and the collector's, persistence on) and forwards
what waited. Nothing is lost, and no agent has to send anything again.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.central.fleet.topology.harness import topology
from tests.mqtt_broker import wait_until

PERIOD_S = 0.2
SETTLE_S = 60.0  # the bridge's back-off (restart_timeout 2 30) on a loaded machine


def test_centre_restart_while_a_site_publishes(tmp_path: Path, pg_url: str) -> None:
    with topology(tmp_path, pg_url, {"bridge-a": ["box-a1", "box-a2"]}) as topo:
        collector = topo.collector("central-1")  # a plain persistent subscription (§3a)
        store = topo.collectors[0][1]
        agents = topo.agents()
        for a in agents:
            a.start(period_s=PERIOD_S)
        assert wait_until(lambda: all(store.count_rows(a.id) >= 5 for a in agents), 30)
        topo.centre.restart(down_s=3.0)  # SIGTERM (saves sessions), 3 s down, same port
        time.sleep(3.0)  # the agents go on counting into the site broker meanwhile
        for a in agents:
            a.stop_counting()
        want = set().union(*(a.keys() for a in agents))
        assert len(want) >= 2 * 6.0 / PERIOD_S * 0.5
        assert wait_until(lambda: store.stored_keys() == want, SETTLE_S), (
            len(want - store.stored_keys()),
            collector.metrics(),
        )
        assert store.count_rows() == len(want)
        assert wait_until(lambda: all(a.outbox.depth() == 0 for a in agents), SETTLE_S)
        assert all(a.publisher.stats().resends == 0 for a in agents)
