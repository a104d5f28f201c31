"""Two collectors on one shared subscription, each scraped over its own API's /metrics: their
ingest-latency histograms, summed bucket by bucket as a fleet's Prometheus sums them, must equal
the histogram of every message's window end → commit. The windows are published with known
ages (45 s, 200 s, 1500 s) far from any bucket bound, so the combined histogram is known exactly
however long the commits take on a loaded machine (up to 15 s)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from central.api.app import ApiContext, create_app
from central.ingest.collector import Collector
from central.ingest.histograms import LATENCY_BUCKETS_S
from central.service import ApiServer
from central.store.writes import Store
from central.summaries import SummaryBoard
from tests.central.api_fixtures import reader_headers
from tests.central.ingest.test_ingest import central_config, counts_message, publish, settled
from tests.central.summary_fixtures import registry, small_areas
from tests.mqtt_broker import MosquittoBroker, wait_until
from tests.prom import samples, scrape

AGES_S = {45.0: 30, 200.0: 30, 1500.0: 30}  # window age at publishing → how many
SLACK_S = 15.0  # commit within this of publishing (bucket bounds are further than that away)
LATENCY = "siaga_central_ingest_latency_seconds"


@contextlib.contextmanager
def served(collector: Collector, store: Store) -> Iterator[str]:
    """A real API (uvicorn on loopback) over one collector, as `siaga central` serves it."""
    ctx = ApiContext(engine=store.engine, board=SummaryBoard(), cameras=registry(small_areas()),
                     ingest_metrics=collector.metrics,
                     collectors=[collector.histograms])  # fmt: skip
    server = ApiServer(create_app(ctx), "127.0.0.1", 0)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def buckets(text: str, name: str) -> dict[float, float]:
    """le → cumulative count of one unlabelled histogram."""
    return {float(s.labels["le"]): s.value for s in samples(text)[f"{name}_bucket"]}


def test_latency_histograms_sum_across_collectors(
    central_mosquitto: MosquittoBroker, db_url: str,
    collector_factory: Callable[..., Collector],
) -> None:  # fmt: skip
    stores = [Store.open(db_url), Store.open(db_url)]
    a, b = (collector_factory(central_config(central_mosquitto, db_url, instance=f"central-{i}"),
                              s) for i, s in zip("ab", stores, strict=True))  # fmt: skip
    assert a.wait_ready(10) and b.wait_ready(10)
    now = datetime.now(UTC)
    msgs: list[tuple[str, bytes, bool]] = []
    seq = 0
    for age, n in AGES_S.items():
        for _ in range(n):
            seq += 1
            end = now - timedelta(seconds=age)
            m = counts_message(f"box-{seq % 7}", seq, window_start=end - timedelta(minutes=1),
                               window_end=end)  # fmt: skip
            msgs.append((f"siaga/v1/{m.agent_id}/{m.camera_id}/counts", m.to_payload(), False))
    publish(central_mosquitto, msgs)
    total = len(msgs)

    def both_done() -> bool:
        ma, mb = a.metrics(), b.metrics()
        return ma["received"] + mb["received"] >= total and settled(a, ma["received"])() \
            and settled(b, mb["received"])()  # fmt: skip

    assert wait_until(both_done, 30), (a.metrics(), b.metrics())
    assert a.metrics()["stored"] + b.metrics()["stored"] == total
    texts = []
    for c, s in ((a, stores[0]), (b, stores[1])):
        with served(c, s) as url:
            texts.append(scrape(f"{url}/metrics", reader_headers(s.engine)))
    per = [buckets(t, LATENCY) for t in texts]
    assert all(p[math.inf] > 0 for p in per), "the shared subscription gave both a share"
    summed = {le: per[0][le] + per[1][le] for le in per[0]}
    expected = {le: float(sum(n for age, n in AGES_S.items() if age + SLACK_S <= le))
                for le in [*LATENCY_BUCKETS_S, math.inf]}  # fmt: skip
    assert summed == expected
    counts = [samples(t)[f"{LATENCY}_count"][0].value for t in texts]
    sums = [samples(t)[f"{LATENCY}_sum"][0].value for t in texts]
    nominal = sum(age * n for age, n in AGES_S.items())
    assert sum(counts) == total and nominal <= sum(sums) <= nominal + total * SLACK_S
    # Every message sits in exactly one batch: the batch sizes add up to the messages.
    batch_sums = [samples(t)["siaga_central_ingest_batch_messages_sum"][0].value for t in texts]
    assert sum(batch_sums) == total
    for s in stores:
        s.close()


def test_no_bound_within_slack_of_an_age() -> None:
    """The test above relies on it."""
    bounds: list[Any] = list(LATENCY_BUCKETS_S)
    assert all(not (age <= le < age + SLACK_S) for age in AGES_S for le in bounds)
