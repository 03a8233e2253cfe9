"""The Prometheus hooks of the sinks."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from connectors import metrics
from connectors.sinks.base import SinkRecord
from connectors.sinks.memory import InMemorySink


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_hooks_count_retries_outcomes_and_export_gauges(poll):
    sink = InMemorySink("metrics-test", fail_permanently={"e2"}, on_retry=metrics.on_retry)
    metrics.track(sink)
    for i in range(3):
        sink.add(SinkRecord(key=None, value={"i": i}, idempotency_key=f"e{i}"))
    assert sample("gigbridge_sink_pending", sink="metrics-test") == 3
    sink.go_down("http_503")
    flushing = asyncio.create_task(sink.flush())
    await poll(lambda: sample("gigbridge_sink_retries_total", sink="metrics-test", reason="http_503") >= 2,
               what="retries counted")
    assert sample("gigbridge_sink_paused", sink="metrics-test") in (0.0, 1.0)
    sink.come_up()
    metrics.record_outcomes(sink.name, await flushing)
    assert sample("gigbridge_sink_outcomes_total", sink="metrics-test", outcome="delivered", reason="") == 2
    assert sample("gigbridge_sink_outcomes_total", sink="metrics-test", outcome="dead_letter",
                  reason="http_422") == 1
    assert sample("gigbridge_sink_pending", sink="metrics-test") == 0
    assert sample("gigbridge_sink_paused", sink="metrics-test") == 0
    await sink.stop()
