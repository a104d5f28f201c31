"""Scenario 4 of issue 20: the site broker restarted, persistence on: what it had queued for
the centre is delivered.

The WAN is cut, the agents' windows are taken by the site broker (PUBACK) and the agents are
stopped, so nothing but the site broker's queue can bring those windows to the centre. The site
broker is restarted (SIGTERM: it saves its persistence file), the link restored: every window
arrives.
"""

from __future__ import annotations

from pathlib import Path

from tests.central.fleet.topology.harness import topology
from tests.mqtt_broker import wait_until

N = 40  # windows per agent queued at the site
SETTLE_S = 60.0


def test_site_restart_delivers_its_queue(tmp_path: Path, pg_url: str) -> None:
    with topology(tmp_path, pg_url, {"bridge-a": ["box-a1", "box-a2"]}) as topo:
        collector = topo.collector("central-1")
        store = topo.collectors[0][1]
        site = topo.sites["bridge-a"]
        agents = topo.agents()
        for a in agents:
            a.start()
        a0 = agents[0]
        a0.enqueue(1)
        assert wait_until(lambda: store.count_rows(a0.id) == 1, 30)  # the bridge is up
        site.wan.cut()
        for a in agents:
            a.enqueue(N)
        # Taken by the site broker: every window acknowledged to the agent.
        assert wait_until(lambda: all(a.publisher.stats().acked == len(a.enqueued)
                                      for a in agents), 15)  # fmt: skip
        for a in agents:
            a.publisher.stop(timeout_s=1.0)  # the agents cannot send anything again
        assert store.count_rows() == 1
        site.broker.restart(down_s=0.5)  # SIGTERM: the queue goes to the persistence file
        site.wan.restore()
        want = set().union(*(a.keys() for a in agents))
        assert wait_until(lambda: store.stored_keys() == want, SETTLE_S), (
            len(want - store.stored_keys()),
            collector.metrics(),
        )
        assert store.count_rows() == len(want) == 2 * N + 1
