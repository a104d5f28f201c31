"""Scenario 3 of issue 20: two collectors on one shared subscription behind the bridge, one
killed (SIGKILL) mid-stream and started again as systemd would (Restart=): nothing lost,
nothing stored twice.

"Nothing twice" holds by construction in the store (`(agent_id, epoch, seq)` is the key and
inserts are ON CONFLICT DO NOTHING); the test checks that the rows are exactly the windows the
agents sent, that every agent's outbox drains (central confirmed everything through the bridge),
and that both collectors took part.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from tests.central.fleet.topology.harness import collector_process, topology
from tests.mqtt_broker import wait_until

PERIOD_S = 0.1
SETTLE_S = 60.0
SPAWN = multiprocessing.get_context("spawn")


def test_shared_subscription_collector_killed(tmp_path: Path, pg_url: str) -> None:
    with topology(tmp_path, pg_url, {"bridge-a": ["box-a1", "box-a2", "box-a3"]}) as topo:
        ready = SPAWN.Event()
        cfg = topo.central_config("central-k", "central")
        child = SPAWN.Process(target=collector_process, args=(cfg, ready))
        child.start()
        try:
            assert ready.wait(60), "the child collector did not get ready"
            survivor = topo.collector("central-s", share_group="central")
            store = topo.collectors[0][1]
            agents = topo.agents()
            for a in agents:
                a.start(period_s=PERIOD_S)
            assert wait_until(lambda: store.count_rows() >= 60, 30)
        finally:
            child.kill()  # SIGKILL mid-stream: no flush, no DISCONNECT
            child.join(10)
        killed_at = store.count_rows()
        assert wait_until(lambda: store.count_rows() >= killed_at + 30, 30)  # the survivor goes on
        again = topo.collector("central-k", share_group="central")  # systemd starts it again
        for a in agents:
            a.stop_counting()
        want = set().union(*(a.keys() for a in agents))
        assert wait_until(lambda: store.stored_keys() == want, SETTLE_S), (
            len(want - store.stored_keys()),
            survivor.metrics(),
        )
        assert store.count_rows() == len(want)
        # Both took part; what the broker held for the killed one's session came to its restart.
        assert survivor.metrics()["stored"] > 0 and again.metrics()["received"] > 0
        assert wait_until(lambda: all(a.outbox.depth() == 0 for a in agents), SETTLE_S)
