"""Prometheus metrics of the outbound sinks. Label values are bounded: sink names (one per
configured endpoint), outcome kinds and reason codes (``timeout``, ``connection_error``,
``http_<code>``, ``unserializable``); never event ids.

Wiring::

    sink = HttpSink(url, secret, name="insurer-44", on_retry=metrics.on_retry)
    metrics.track(sink)                       # gigbridge_sink_paused / _pending gauges
    outcomes = await sink.flush()
    metrics.record_outcomes(sink.name, outcomes)
"""

from __future__ import annotations

from typing import Iterable

from prometheus_client import Counter, Gauge, Histogram

from connectors.sinks.base import DeadLetter, Delivered, DeliveryOutcome, RetryInfo, Sink

SINK_RETRIES = Counter("gigbridge_sink_retries_total", "Transient delivery failures that were retried",
                       ["sink", "reason"])
SINK_OUTCOMES = Counter("gigbridge_sink_outcomes_total", "Final outcomes of sink records",
                        ["sink", "outcome", "reason"])
SINK_ATTEMPTS = Histogram("gigbridge_sink_attempts", "Attempts a delivered record needed", ["sink"],
                          buckets=(1, 2, 3, 5, 10, 20, 50, 100))
SINK_LATENCY = Histogram("gigbridge_sink_request_seconds", "Latency of the successful request", ["sink"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
SINK_PAUSED = Gauge("gigbridge_sink_paused", "1 while the sink backs off from a transient failure", ["sink"])
SINK_PENDING = Gauge("gigbridge_sink_pending", "Records buffered and not yet flushed", ["sink"])


def on_retry(info: RetryInfo) -> None:
    """``on_retry`` hook for any :class:`~connectors.sinks.base.BufferedSink`."""
    SINK_RETRIES.labels(info.sink, info.reason).inc()


def track(sink: Sink) -> None:
    """Export ``paused``/``pending`` of ``sink`` as gauges (read at scrape time)."""
    SINK_PAUSED.labels(sink.name).set_function(lambda: 1.0 if sink.paused else 0.0)
    SINK_PENDING.labels(sink.name).set_function(lambda: float(sink.pending))


def record_outcomes(sink_name: str, outcomes: Iterable[DeliveryOutcome]) -> None:
    for outcome in outcomes:
        if isinstance(outcome, Delivered):
            SINK_OUTCOMES.labels(sink_name, "delivered", "").inc()
            attempts = outcome.receipt.get("attempts")
            if isinstance(attempts, int):
                SINK_ATTEMPTS.labels(sink_name).observe(attempts)
            latency = outcome.receipt.get("latency_ms")
            if isinstance(latency, (int, float)):
                SINK_LATENCY.labels(sink_name).observe(latency / 1000)
        elif isinstance(outcome, DeadLetter):
            SINK_OUTCOMES.labels(sink_name, "dead_letter", outcome.reason).inc()
