"""A labelled Prometheus histogram fed a batch at a time.

prometheus_client's ``Histogram.observe`` takes two locks and walks the buckets per value;
the worker observes two latencies per event, which cost more than routing the event. Here a
batch's values are counted into plain lists (``bisect``) under one lock per label value, and
a collector exports the usual ``_bucket`` / ``_sum`` / ``_count`` series at scrape time.
"""

from __future__ import annotations

import bisect
import threading
from typing import Iterable

from prometheus_client import REGISTRY
from prometheus_client.core import HistogramMetricFamily


class BatchHistogram:
    """Histogram with one label. ``observe_many(label, values)``; thread-safe; registered in
    ``registry`` (the default one) like a prometheus_client metric."""

    def __init__(self, name: str, documentation: str, label: str, buckets: Iterable[float],
                 registry=REGISTRY) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self.bounds = sorted(float(b) for b in buckets)
        self._counts: dict[str, list[int]] = {}  # per label value: one count per bound, +Inf last
        self._sums: dict[str, float] = {}
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def observe_many(self, label_value: str, values: Iterable[float]) -> None:
        bounds, where = self.bounds, bisect.bisect_left
        local = [0] * (len(bounds) + 1)
        total = 0.0
        for value in values:
            local[where(bounds, value)] += 1  # first bound >= value ("le"); past the end: +Inf
            total += value
        with self._lock:
            counts = self._counts.get(label_value)
            if counts is None:
                counts = self._counts[label_value] = [0] * (len(bounds) + 1)
                self._sums[label_value] = 0.0
            for i, n in enumerate(local):
                if n:
                    counts[i] += n
            self._sums[label_value] += total

    def describe(self):
        return [HistogramMetricFamily(self.name, self.documentation, labels=[self.label])]

    def collect(self):
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        with self._lock:
            snapshot = [(label, list(counts), self._sums[label]) for label, counts in self._counts.items()]
        for label, counts, total in snapshot:
            cumulative, buckets = 0, []
            for bound, n in zip([*map(_le, self.bounds), "+Inf"], counts):
                cumulative += n
                buckets.append((bound, cumulative))
            family.add_metric([label], buckets, total)
        yield family


def _le(bound: float) -> str:
    """``le`` as prometheus_client writes it (``0.05``, ``1.0``, ``60.0``)."""
    return repr(float(bound))
