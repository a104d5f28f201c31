"""The publisher against a real Mosquitto: order, outages, restarts, will, status, auth, TLS."""

from __future__ import annotations

import logging
import os
import random
import selectors
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.config import MqttSection
from agent.outbox import Outbox
from agent.publisher import Publisher
from siaga.backoff import backoff_s
from siaga.wire import (
    OFFLINE,
    ONLINE,
    ModelInfo,
    StatusMessage,
    availability_topic,
    counts_topic,
    status_topic,
)
from tests.mqtt_broker import MosquittoBroker, Received, Subscriber, TcpProxy, wait_until

REPO = Path(__file__).resolve().parents[2]
AGENT = "box1"
TOPIC = counts_topic(AGENT, "cam1")
AVAIL = availability_topic(AGENT)
INFLIGHT = 10


def seq_payload(seq: int) -> bytes:
    return str(seq).encode()


def cfg_for(broker: MosquittoBroker | TcpProxy, **kw: Any) -> MqttSection:
    # The broker's PUBACK ends a row here: these tests are about delivery to the broker
    # (tests/agent/test_confirm.py covers central's end-to-end confirmation).
    base: dict[str, Any] = dict(
        confirm="broker",
        host=broker.host,
        port=broker.port,
        tls=False,
        keepalive_s=5,
        reconnect_min_s=0.05,
        reconnect_max_s=0.3,
        max_inflight=INFLIGHT,
    )
    return MqttSection(**{**base, **kw})


def seqs(messages: list[Received], topic: str = TOPIC) -> list[int]:
    return [int(m.payload) for m in messages if m.topic == topic]


def first_deliveries(received: list[int]) -> list[int]:
    seen: set[int] = set()
    out = []
    for s in received:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Callable[..., tuple[Publisher, Outbox]]]:
    """Make (publisher, outbox) pairs; every one is stopped and closed after the test."""
    made: list[tuple[Publisher, Outbox]] = []

    def make(broker: MosquittoBroker | TcpProxy, *, db: str = "outbox.sqlite3", start: bool = True,
             agent_id: str = AGENT, **kw: Any) -> tuple[Publisher, Outbox]:  # fmt: skip
        ob = Outbox(tmp_path / db)
        pub = Publisher(cfg_for(broker, **kw), agent_id=agent_id, outbox=ob)
        made.append((pub, ob))
        if start:
            pub.start()
        return pub, ob

    yield make
    for pub, ob in made:
        pub.stop(timeout_s=1.0)
        ob.close()


@pytest.fixture
def proxy(mosquitto: MosquittoBroker) -> Iterator[TcpProxy]:
    """A relay in front of the broker, to cut the agent's link while the broker stays up."""
    with TcpProxy(mosquitto.port) as p:
        yield p


def enqueue(pub: Publisher, ob: Outbox, n: int, pause_s: float = 0.0) -> list[int]:
    out = []
    for _ in range(n):
        out.append(ob.enqueue(TOPIC, seq_payload))
        pub.notify()
        if pause_s:
            time.sleep(pause_s)
    return out


def test_backoff_grows_with_jitter_within_bounds() -> None:
    rng = random.Random(1)
    delays = [[backoff_s(n, min_s=1.0, max_s=60.0, rng=rng) for n in range(11)] for _ in range(20)]
    assert all(1.0 <= d <= 60.0 for row in delays for d in row)
    assert all(row[0] == 1.0 for row in delays)
    assert len({row[5] for row in delays}) > 10  # jittered, not one fixed value
    assert min(row[-1] for row in delays) >= 30.0  # reached the cap's range


def test_delivers_200_in_order_and_empties_the_outbox(mosquitto: MosquittoBroker, agents) -> None:
    with Subscriber(mosquitto, [TOPIC]) as sub:
        pub, ob = agents(mosquitto, start=False)
        enqueue(pub, ob, 50)  # queued before the connection exists
        pub.start()
        enqueue(pub, ob, 150)
        assert sub.wait_for(lambda m: len(seqs(m)) >= 200, 20), len(sub.snapshot())
        assert wait_until(lambda: ob.depth() == 0, 5)
    assert seqs(sub.snapshot()) == list(range(1, 201))
    st = pub.stats()
    assert (st.sent, st.acked, st.resent, st.connects) == (200, 200, 0, 1)
    with Subscriber(mosquitto, [AVAIL], client_id="late") as late:
        assert late.wait_for(lambda m: len(m) == 1, 5)
        assert late.snapshot()[0].payload == ONLINE.encode() and late.snapshot()[0].retain


def test_outage_then_restart_on_same_port_loses_nothing(mosquitto: MosquittoBroker, agents) -> None:
    sub = Subscriber(mosquitto, [TOPIC], persistent=True).start()
    pub, ob = agents(mosquitto)
    assert wait_until(lambda: pub.connected, 5)
    stop_producing = threading.Event()

    def producer() -> None:
        while not stop_producing.is_set() and ob.last_seq() != 400:
            enqueue(pub, ob, 1)
            time.sleep(0.004)

    t = threading.Thread(target=producer)
    t.start()
    try:
        assert sub.wait_for(lambda m: len(seqs(m)) >= 60, 10)
        mosquitto.stop()  # graceful: the subscriber's session is persisted
        assert wait_until(lambda: not pub.connected, 5)
        seq_before = ob.last_seq() or 0
        time.sleep(0.6)
        assert (ob.last_seq() or 0) > seq_before and not pub.connected  # counting goes on
        mosquitto.start()
        t.join(timeout=20)
        last = ob.last_seq()
        assert last == 400
        assert sub.wait_for(lambda m: set(seqs(m)) >= set(range(1, last + 1)), 20)
        assert wait_until(lambda: ob.depth() == 0, 5)
    finally:
        stop_producing.set()
        t.join(timeout=5)
        sub.stop()
    got = sub.snapshot()
    assert first_deliveries(seqs(got)) == list(range(1, 401))
    # Re-sends from the agent (not the broker's own redeliveries to the subscriber, flagged dup).
    dups = len([m for m in got if not m.dup]) - 400
    assert 0 <= dups <= INFLIGHT
    st = pub.stats()
    assert st.reconnects == 1 and st.resent <= INFLIGHT and st.acked >= 400


def test_network_cut_with_unacked_messages_resends_them_in_order(
    mosquitto: MosquittoBroker, proxy: TcpProxy, agents
) -> None:
    with Subscriber(mosquitto, [TOPIC]) as sub:
        pub, ob = agents(proxy)
        enqueue(pub, ob, 30)
        assert wait_until(lambda: ob.depth() == 0, 10)
        proxy.hold_replies()  # the broker gets the next window but its PUBACKs never arrive
        enqueue(pub, ob, 50)
        assert sub.wait_for(lambda m: len(seqs(m)) >= 30 + INFLIGHT, 10)
        time.sleep(0.1)
        assert len(seqs(sub.snapshot())) == 30 + INFLIGHT  # no more than the window in flight
        proxy.cut()
        assert wait_until(lambda: not pub.connected, 5)
        enqueue(pub, ob, 20, pause_s=0.01)  # counting goes on while the link is down
        proxy.release_replies()
        proxy.restore()
        assert sub.wait_for(lambda m: set(seqs(m)) >= set(range(1, 101)), 20)
        assert wait_until(lambda: ob.depth() == 0, 5)
    got = seqs(sub.snapshot())
    assert first_deliveries(got) == list(range(1, 101))
    assert len(got) - 100 == pub.stats().resent == INFLIGHT  # exactly the un-acked window again
    assert pub.stats().reconnects == 1


def test_agent_restart_mid_stream_continues_seq(
    mosquitto: MosquittoBroker, proxy: TcpProxy, agents
) -> None:
    with Subscriber(mosquitto, [TOPIC]) as sub:
        pub, ob = agents(proxy)
        enqueue(pub, ob, 1)
        assert wait_until(lambda: ob.depth() == 0, 10)  # so "online" is acknowledged too
        proxy.hold_replies()
        enqueue(pub, ob, 99)
        assert sub.wait_for(lambda m: len(seqs(m)) >= 1 + INFLIGHT, 10)
        pub.stop(timeout_s=0.3)  # nothing more acknowledged: every row must survive the restart
        assert ob.depth() == 99
        ob.close()
        pub2, ob2 = agents(mosquitto, start=False)  # comes back, straight to the broker
        assert ob2.last_seq() == 100 and ob2.depth() == 99
        pub2.start()
        assert enqueue(pub2, ob2, 100)[0] == 101
        assert sub.wait_for(lambda m: set(seqs(m)) >= set(range(1, 201)), 20)
        assert wait_until(lambda: ob2.depth() == 0, 5)
    assert first_deliveries(seqs(sub.snapshot())) == list(range(1, 201))


AGENT_SCRIPT = """
import sys, time
from agent.config import MqttSection
from agent.outbox import Outbox
from agent.publisher import Publisher
port, path, topic = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ob = Outbox(path)
cfg = MqttSection(host="127.0.0.1", port=port, tls=False, reconnect_min_s=0.05, max_inflight=10,
                  confirm="broker")
pub = Publisher(cfg, agent_id="box1", outbox=ob)
pub.start()
while not pub.connected:
    time.sleep(0.01)
print("connected", flush=True)
while True:
    seq = ob.enqueue(topic, lambda s: str(s).encode())
    pub.notify()
    if seq == 100:
        print("hundred", flush=True)
    time.sleep(0.002)
"""


def read_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout_s):
            return ""
    return proc.stdout.readline().strip()


def waiting_rows(db: Path) -> int:
    """Rows in another process's outbox (WAL lets us read while it writes)."""
    conn = sqlite3.connect(db, timeout=5)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()


def test_kill_9_gives_offline_will_and_restart_loses_nothing(
    mosquitto: MosquittoBroker, proxy: TcpProxy, agents, tmp_path: Path
) -> None:
    db = tmp_path / "crash.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with Subscriber(mosquitto, [TOPIC, AVAIL]) as sub:
        proc = subprocess.Popen(
            [sys.executable, "-c", AGENT_SCRIPT, str(proxy.port), str(db), TOPIC],
            stdout=subprocess.PIPE, text=True, cwd=REPO, env=env,
        )  # fmt: skip
        try:
            assert read_line(proc, 15) == "connected"
            assert read_line(proc, 10) == "hundred"
            proxy.hold_replies()  # so that the crash leaves un-acknowledged rows behind
            assert wait_until(lambda: waiting_rows(db) >= 2 * INFLIGHT, 10)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=5)
        assert sub.wait_for(lambda m: sub.payloads(AVAIL)[-1:] == [OFFLINE.encode()], 5)
        assert sub.payloads(AVAIL) == [ONLINE.encode(), OFFLINE.encode()]
        with Subscriber(mosquitto, [AVAIL], client_id="late") as late:
            assert late.wait_for(lambda m: [x.payload for x in m[:1]] == [OFFLINE.encode()], 5)

        pub, ob = agents(mosquitto, db="crash.sqlite3", start=False)  # the agent comes back
        last = ob.last_seq()
        assert last is not None and last >= 100 and ob.depth() >= 2 * INFLIGHT
        pub.start()
        assert sub.wait_for(lambda m: set(seqs(m)) >= set(range(1, last + 1)), 20)
        assert sub.wait_for(lambda m: sub.payloads(AVAIL)[-1:] == [ONLINE.encode()], 5)
    assert first_deliveries(seqs(sub.snapshot())) == list(range(1, last + 1))
    # Each report names its connection's start: the will shares the first online's, the
    # restart's online is later (central orders availability by it).
    on1, will, on2 = (dict(m.user_props)["since"] for m in sub.snapshot() if m.topic == AVAIL)
    assert on1 == will < on2


def status(n: int) -> StatusMessage:
    return StatusMessage(
        agent_id=AGENT, time=datetime.now(UTC), version="0.1.0", uptime_s=n,
        model=ModelInfo(name="m", version="1", sha256="0" * 64), cameras={},
        outbox_depth=n, dropped=0, last_seq=None,
    )  # fmt: skip


def test_status_is_retained_latest_only(mosquitto: MosquittoBroker, agents) -> None:
    pub, _ = agents(mosquitto, start=False)
    pub.publish_status(status(1))  # before any connection: sent on connect
    pub.start()
    topic = status_topic(AGENT)
    with Subscriber(mosquitto, [topic], client_id="s1") as sub:
        assert sub.wait_for(lambda m: len(m) >= 1, 5)
        assert StatusMessage.model_validate_json(sub.snapshot()[0].payload).uptime_s == 1
        pub.publish_status(status(2))
        assert sub.wait_for(lambda m: len(m) >= 2, 5)
    with Subscriber(mosquitto, [topic], client_id="s2") as late:
        assert late.wait_for(lambda m: len(m) >= 1, 5)
        first = late.snapshot()[0]
        assert first.retain and StatusMessage.model_validate_json(first.payload).uptime_s == 2


def test_clean_stop_says_offline_and_is_bounded(mosquitto: MosquittoBroker, agents) -> None:
    pub, ob = agents(mosquitto)
    assert wait_until(lambda: pub.connected, 5)
    enqueue(pub, ob, 20)
    t0 = time.monotonic()
    pub.stop(timeout_s=2.0)
    assert time.monotonic() - t0 < 3.0
    assert ob.depth() == 0  # flushed
    with Subscriber(mosquitto, [AVAIL], client_id="late") as late:
        assert late.wait_for(lambda m: len(m) >= 1, 5)
        assert late.snapshot()[0].payload == OFFLINE.encode()


@pytest.mark.parametrize("how", ["killed", "frozen"])
def test_stop_returns_in_time_when_broker_is_gone(
    mosquitto: MosquittoBroker, agents, how: str
) -> None:
    pub, ob = agents(mosquitto)
    assert wait_until(lambda: pub.connected, 5)
    assert mosquitto.proc is not None
    try:
        if how == "killed":
            mosquitto.kill()
        else:
            mosquitto.proc.send_signal(signal.SIGSTOP)  # socket open, nobody answers
        enqueue(pub, ob, 30)
        t0 = time.monotonic()
        pub.stop(timeout_s=1.5)
        assert time.monotonic() - t0 < 2.5
    finally:
        if mosquitto.running:
            mosquitto.proc.send_signal(signal.SIGCONT)
    assert ob.depth() > 0  # nothing acknowledged, nothing deleted


def test_bad_password_is_reported_clearly(
    mosquitto_factory, agents, caplog: pytest.LogCaptureFixture
) -> None:
    probe = mosquitto_factory()  # only to get a work folder for the password file
    pw = probe.password_file({AGENT: "right-secret"})
    broker = mosquitto_factory(allow_anonymous=False, extra_config=[f"password_file {pw}"])
    with caplog.at_level(logging.DEBUG, logger="agent.publisher"):
        bad, _ = agents(broker, db="bad.sqlite3", password=SecretStr("wrong-secret"))
        assert wait_until(lambda: bad.stats().failures >= 3, 10)
        st = bad.stats()
        assert not bad.connected and st.connects == 0
        assert st.last_error is not None and "refused" in st.last_error
        assert "Bad user name or password" in st.last_error or "Not authorized" in st.last_error
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and AGENT in errors[0].getMessage()  # said once, not a log flood
        good, _ = agents(broker, db="good.sqlite3", agent_id=AGENT,
                         password=SecretStr("right-secret"))  # fmt: skip
        assert wait_until(lambda: good.connected, 5)
    assert "wrong-secret" not in caplog.text and "right-secret" not in caplog.text


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def make_ca_and_server(d: Path, name: str) -> tuple[Path, Path, Path]:
    ca_key, ca, key, csr, crt = (d / f"{name}{s}" for s in
                                 ("-ca.key", "-ca.pem", ".key", ".csr", ".pem"))  # fmt: skip
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={name} CA", "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", str(key), "-out", str(csr))  # fmt: skip
    ext = d / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt))  # fmt: skip
    return ca, crt, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_tls_verifies_the_broker_certificate(mosquitto_factory, agents, tmp_path: Path) -> None:
    ca, crt, key = make_ca_and_server(tmp_path, "city")
    other_ca, _, _ = make_ca_and_server(tmp_path, "other")
    broker = mosquitto_factory(extra_config=[f"cafile {ca}", f"certfile {crt}", f"keyfile {key}"])
    good, ob = agents(broker, db="good.sqlite3", tls=True, ca_file=ca)
    enqueue(good, ob, 5)
    assert wait_until(lambda: ob.depth() == 0, 10)
    wrong, _ = agents(broker, db="wrong.sqlite3", agent_id="box2", tls=True, ca_file=other_ca)
    assert wait_until(lambda: wrong.stats().failures >= 1, 10)
    assert not wrong.connected
    assert "certificate verify failed" in (wrong.stats().last_error or "")
