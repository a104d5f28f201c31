"""Scenario 1 of issue 20: the site-centre link down 60 s while three agents keep counting.

Every window is stored once and in order per agent; the agents' outboxes drain (central's
confirmations came back through the bridge, and no agent had to send again); the agents stay
"online" at the centre the whole time, while the bridge's own state topic says the link was
down: a bridge outage is not an agent outage.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from central.store import schema
from siaga.wire import availability_topic
from tests.central.fleet.topology.harness import topology
from tests.mqtt_broker import wait_until

CUT_S = 60.0  # the figure: longer than every keepalive and reconnect back-off involved
PERIOD_S = 0.5  # one window per agent every half second: 120 queued per agent during the cut
SETTLE_S = 90.0  # the bridge's back-off (restart_timeout 2 30) plus delivery on a loaded machine


def test_link_down_60s_three_agents_keep_counting(tmp_path: Path, pg_url: str) -> None:
    sites = {"bridge-a": ["box-a1", "box-a2", "box-a3"], "bridge-b": ["box-b1"]}
    with topology(tmp_path, pg_url, sites) as topo:
        collector = topo.collector("central-1")
        state_a, state_b = "siaga/v1/bridge/bridge-a/state", "siaga/v1/bridge/bridge-b/state"
        obs = topo.observer(["siaga/v1/+/availability", "siaga/v1/bridge/+/state"])
        agents = topo.agents()
        for a in agents:
            a.start(period_s=PERIOD_S)
        store = topo.collectors[0][1]
        assert wait_until(lambda: all(store.count_rows(a.id) >= 5 for a in agents), 30)
        assert obs.wait_for(lambda m: any(x.topic == state_a and x.payload == b"1" for x in m), 15)

        site_a = topo.sites["bridge-a"]
        site_a.wan.cut()  # the WAN drops: connections reset, new ones refused
        cut_at = time.monotonic()
        # The centre notices at once (the reset) and publishes the bridge's will.
        assert obs.wait_for(lambda m: any(x.topic == state_a and x.payload == b"0" for x in m),
                            15)  # fmt: skip
        stored_at_cut = store.count_rows()
        while time.monotonic() - cut_at < CUT_S:
            time.sleep(1.0)
            # Site B's agent goes on being stored; site A's agents are not (they queue).
        behind = {a.id: len(a.enqueued) - store.count_rows(a.id) for a in agents}
        assert min(behind[a] for a in ("box-a1", "box-a2", "box-a3")) >= 0.8 * CUT_S / PERIOD_S
        assert behind["box-b1"] < 20, behind
        assert store.count_rows() > stored_at_cut  # site B went on arriving
        site_a.wan.restore()
        for a in agents:
            a.stop_counting()
        want = set().union(*(a.keys() for a in agents))
        restored_at = time.monotonic()
        assert wait_until(lambda: store.stored_keys() == want, SETTLE_S), (
            len(want - store.stored_keys()),
            collector.metrics(),
            # Did the bridge come back? Its state messages, in order.
            [(x.topic, x.payload) for x in obs.snapshot() if x.topic == state_a],
            f"{time.monotonic() - restored_at:.0f} s after the restore",
        )
        # Central's confirmations came back through the bridge: every outbox drains.
        assert wait_until(lambda: all(a.outbox.depth() == 0 for a in agents), SETTLE_S), {
            a.id: a.outbox.depth() for a in agents
        }
        assert all(a.publisher.stats().resends == 0 for a in agents)  # nothing sent twice

        # Once, and in order per agent: the commit order (received_at) follows seq.
        c = schema.counts.c
        with store.engine.connect() as conn:
            rows = conn.execute(select(c.agent_id, c.seq, c.received_at)
                                .order_by(c.received_at, c.seq)).all()  # fmt: skip
        assert len(rows) == len(want)
        for a in agents:
            seqs = [r.seq for r in rows if r.agent_id == a.id]
            assert seqs == sorted(seqs) == sorted(a.enqueued), a.id
        m = collector.metrics()
        assert m["stored"] == len(want) and m["rejected_total"] == 0, m

        # Availability: the agents never went offline at the centre (no "offline" message,
        # central's table says online); the bridge state says the link was down, then up.
        seen = obs.snapshot()
        for a in agents:
            mine = [x.payload for x in seen if x.topic == availability_topic(a.id)]
            assert mine and b"offline" not in mine, (a.id, mine)
        with store.engine.connect() as conn:
            avail = dict(conn.execute(select(schema.agents.c.agent_id,
                                             schema.agents.c.availability)).all())  # fmt: skip
        assert {a.id: avail.get(a.id) for a in agents} == {a.id: "online" for a in agents}
        states = [x.payload for x in seen if x.topic == state_a]
        assert states[-1] == b"1" and b"0" in states, states
        assert b"0" not in [x.payload for x in seen if x.topic == state_b]
        obs.stop()
