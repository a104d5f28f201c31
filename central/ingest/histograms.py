"""The collector's Prometheus histograms: ingest latency (window end → commit), batch sizes and
batch handling time.

Histograms, not percentiles: each collector instance exports cumulative bucket counts, and a
fleet's Prometheus sums them across instances (`sum by (le) (rate(..._bucket[5m]))`) before taking
a quantile; percentiles of several instances cannot be combined. Exposed in prometheus_client's
own HistogramMetricFamily. Observed a batch at a time under the collector's lock with one
bisect per value (about a fifth of prometheus_client's Histogram.observe, which takes a lock per
call): at tens of thousands of messages a second the collector's per-message cost matters
(benchmarks/ingest.py).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

# Seconds from a window's end to its commit: a live agent sends within a second or two; a box
# back from an outage sends hours-old windows (those land in the upper buckets).
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                     600.0, 1800.0, 3600.0, 21_600.0, 86_400.0)  # fmt: skip
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)  # messages
BATCH_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Buckets:
    """Counts per bucket (non-cumulative) and the sum of what was observed; not thread-safe."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = list(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound (+Inf)
        self.total = 0.0

    def observe(self, values: Iterable[float]) -> None:
        """Add values (Prometheus buckets are `le`: a value on a bound counts in that bucket)."""
        bounds, counts = self.bounds, self.counts
        s = 0.0
        for v in values:
            counts[bisect.bisect_left(bounds, v)] += 1
            s += v
        self.total += s

    def cumulative(self) -> list[tuple[str, float]]:
        """(le, cumulative count) pairs, +Inf last, as HistogramMetricFamily takes them."""
        out, running = [], 0
        for bound, n in zip([*self.bounds, math.inf], self.counts, strict=True):
            running += n
            out.append((floatToGoString(bound), float(running)))  # as prometheus_client's
        return out


class IngestHistograms:
    """The three histograms of one collector instance (a prometheus_client collector)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency = Buckets(LATENCY_BUCKETS_S)
        self.batch_size = Buckets(BATCH_SIZE_BUCKETS)
        self.batch_seconds = Buckets(BATCH_SECONDS_BUCKETS)

    def observe_batch(self, lags_s: Sequence[float], size: int, seconds: float) -> None:
        """One committed batch: each count's window end → commit, its size, how long it took."""
        with self._lock:
            self.latency.observe(lags_s)
            self.batch_size.observe((size,))
            self.batch_seconds.observe((seconds,))

    def describe(self) -> list[Metric]:
        """Nothing up front (collect is cheap)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The histograms as they stand."""
        with self._lock:
            parts = [(b.cumulative(), b.total) for b in
                     (self.latency, self.batch_size, self.batch_seconds)]  # fmt: skip
        names = (
            ("siaga_central_ingest_latency_seconds",
             "window end to its commit in the database, per count message"),
            ("siaga_central_ingest_batch_messages", "messages per committed batch"),
            ("siaga_central_ingest_batch_seconds", "time to check, write and acknowledge a batch"),
        )  # fmt: skip
        for (name, help_), (buckets, total) in zip(names, parts, strict=True):
            family = HistogramMetricFamily(name, help_)
            family.add_metric([], buckets, total)
            yield family
