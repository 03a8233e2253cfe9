"""BatchHistogram exports exactly what a prometheus_client Histogram fed the same values does."""

import random

import pytest

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streams.runtime.batch_histogram import BatchHistogram

BUCKETS = (0.005, 0.05, 0.1, 1, 2.5, 60)


def series(registry: CollectorRegistry) -> list[str]:
    """Sample lines without ``_created`` (prometheus_client's own creation timestamps)."""
    return sorted(line for line in generate_latest(registry).decode().splitlines()
                  if line and "_created" not in line)


def test_same_exposition_as_prometheus_client():
    values = {"sites": [0, 0.005, 0.0051, 0.1, 1, 59.9, 60, 61, 3600],
              "incidents": [random.Random(7).uniform(0, 100) for _ in range(500)]}
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("lat_seconds", "latency", "type", BUCKETS, registry=ours)
    reference = Histogram("lat_seconds", "latency", ["type"], buckets=BUCKETS, registry=theirs)
    for label, seconds in values.items():
        batch.observe_many(label, seconds[:100])
        batch.observe_many(label, seconds[100:])  # counts add up across batches
        for v in seconds:
            reference.labels(label).observe(v)
    ours_lines, their_lines = series(ours), series(theirs)
    assert [line for line in ours_lines if "_sum" not in line] == [line for line in their_lines if "_sum" not in line]
    sums = [[float(line.rsplit(" ", 1)[1]) for line in lines if "_sum{" in line] for lines in (ours_lines, their_lines)]
    assert len(sums[0]) == 2 and sums[0] == pytest.approx(sums[1])  # summed per batch: rounding differs


def test_nothing_observed_exports_the_family_without_samples():
    registry = CollectorRegistry()
    BatchHistogram("idle_seconds", "idle", "type", BUCKETS, registry=registry)
    assert "# TYPE idle_seconds histogram" in generate_latest(registry).decode()
    assert [line for line in series(registry) if not line.startswith("#")] == []
