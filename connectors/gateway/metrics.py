"""Prometheus metrics of the ingest gateway.

Label values are bounded: ``platform`` is a configured platform id (or ``-`` before
authentication), ``status`` an HTTP status code, ``type`` one of the three event types (or
``-`` for unknown ones), ``outcome`` one of ``accepted``, ``rejected``, ``unavailable``
(validated but not delivered: the request got 503), ``reason`` one of ``evicted``, ``refused``,
``malformed``.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["GatewayMetrics", "metrics_for"]


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter("gigbridge_gateway_requests_total", "Ingest requests by platform and HTTP status",
                                ["platform", "status"], registry=registry)
        self.events = Counter("gigbridge_gateway_events_total", "Events received by the gateway, by outcome",
                              ["platform", "type", "outcome"], registry=registry)
        self.latency = Histogram("gigbridge_gateway_request_seconds",
                                 "Ingest request duration, including the wait for Kafka acknowledgements",
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                                 registry=registry)
        self.connections = Gauge("gigbridge_gateway_connections", "Open client connections", registry=registry)
        self.connections_closed = Counter(
            "gigbridge_gateway_connections_closed_total",
            "Connections the gateway closed on its own: evicted (idle or headers incomplete, to make room under "
            "the connection limit), refused (at the limit with every connection busy), malformed (not HTTP/1.1)",
            ["reason"], registry=registry)


_BY_REGISTRY: dict[int, GatewayMetrics] = {}


def metrics_for(registry: CollectorRegistry | None = None) -> GatewayMetrics:
    """The gateway metrics registered in ``registry`` (default: the process-wide one), created
    once per registry so several apps in one process share them."""
    registry = registry if registry is not None else REGISTRY
    metrics = _BY_REGISTRY.get(id(registry))
    if metrics is None or metrics.registry is not registry:
        metrics = _BY_REGISTRY[id(registry)] = GatewayMetrics(registry)
    return metrics
