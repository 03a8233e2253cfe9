"""Prometheus metrics of the stream workers (served on ``/metrics`` of the Faust web server).

Label values are bounded: platform ids (onboarded platforms), event types, reason codes and
output kinds; never event ids, site ids or anything finer than a county.
"""

from __future__ import annotations

import collections

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

import connectors.metrics  # noqa: F401 - registers the gigbridge_sink_* metrics of the sinks
import streams.runtime.cover_metrics  # noqa: F401 - registers the gigbridge_cover_* metrics
import streams.runtime.notices.metrics  # noqa: F401 - registers the gigbridge_notice* metrics of the notice flows

from streams.runtime.batch_histogram import BatchHistogram
from streams.core.classify import Accepted, DeadLettered, Rejected
from streams.runtime.domain import DomainCollector, DomainState
from streams.core.plan import BatchPlan

# Domain view (open sites, workers, incidents), k-suppressed at scrape time.
DOMAIN = DomainState()
REGISTRY.register(DomainCollector(DOMAIN))

EVENTS_RECEIVED = Counter("gigbridge_events_received_total", "Messages read from ingest topics",
                          ["platform", "type"])
EVENTS_VALID = Counter("gigbridge_events_valid_total", "Events that passed validation",
                       ["platform", "type"])
EVENTS_REJECTED = Counter("gigbridge_events_rejected_total", "Events refused, by reason code",
                          ["platform", "type", "reason"])
DUPLICATES_DROPPED = Counter("gigbridge_duplicates_dropped_total",
                             "Repeats of an already accepted event_id inside the dedupe window",
                             ["platform", "type"])
DLQ_WRITES = Counter("gigbridge_dlq_writes_total", "Messages written to a dead-letter topic",
                     ["topic", "reason"])
ROUTED = Counter("gigbridge_routed_total", "Records written to hub outputs, by destination kind",
                 ["destination", "type"])
PROCESSING_SECONDS = Histogram("gigbridge_batch_processing_seconds",
                               "Time from batch received to all outputs acknowledged",
                               buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
END_TO_END_SECONDS = BatchHistogram("gigbridge_end_to_end_latency_seconds",
                                    "occurred_at of an event to the moment its outputs were acknowledged "
                                    "(includes how late the platform reported it)", "type",
                                    (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600))
# The hub's own share of the delay, which operators can act on: a platform reporting an
# incident an hour late is normal, a hub taking seconds per record is not.
HUB_LATENCY_SECONDS = BatchHistogram("gigbridge_hub_latency_seconds",
                                     "Kafka timestamp of an input record to the moment its outputs were "
                                     "acknowledged", "type",
                                     (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
SUBSCRIBED_TOPICS = Gauge("gigbridge_subscribed_ingest_topics", "Ingest topics the worker consumes")
CONSUMER_LAG = Gauge("gigbridge_consumer_lag_messages",
                     "Messages not yet processed in an input topic (sum over assigned partitions)", ["topic"])
DELIVERY_RETRIES = Counter("gigbridge_delivery_retries_total",
                           "Batches whose outputs had to be re-sent after a producer error")


def record_batch(plan: BatchPlan, acked_ms: int) -> None:
    """Count one delivered batch: tallied per label set first, one ``inc`` per label set (a
    labelled ``inc`` per event cost more than the event's routing)."""
    tally: collections.Counter = collections.Counter()
    end_to_end, hub_latency = collections.defaultdict(list), collections.defaultdict(list)
    for d in plan.decisions:
        platform, etype = d.platform_id, d.event_type
        tally[(EVENTS_RECEIVED, (platform, etype))] += 1
        outcome = d.outcome
        if d.message.timestamp_ms is not None and not d.duplicate:
            hub_latency[etype].append(max(0, acked_ms - d.message.timestamp_ms) / 1000)
        if isinstance(outcome, Accepted):
            if d.duplicate:
                tally[(DUPLICATES_DROPPED, (platform, etype))] += 1
                continue
            tally[(EVENTS_VALID, (platform, etype))] += 1
            DOMAIN.apply(etype, outcome.record)
            end_to_end[etype].append(max(0, acked_ms - outcome.record["occurred_at"]) / 1000)
        elif isinstance(outcome, Rejected):
            tally[(EVENTS_REJECTED, (platform, etype, outcome.rejection.reason))] += 1
        elif isinstance(outcome, DeadLettered):
            tally[(DLQ_WRITES, ("hub.dlq", outcome.reason))] += 1
        for delivery in d.deliveries:
            tally[(ROUTED, (delivery.kind, etype))] += 1
    for (metric, labels), n in tally.items():
        metric.labels(*labels).inc(n)
    for histogram, values in ((END_TO_END_SECONDS, end_to_end), (HUB_LATENCY_SECONDS, hub_latency)):
        for etype, seconds in values.items():
            histogram.observe_many(etype, seconds)


def exported_metric_names() -> set[str]:
    """Every ``gigbridge_*`` metric a worker exports, as it appears in PromQL (counters with
    ``_total``; histograms by base name). Dashboards and alert rules are checked against it."""
    names = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("gigbridge_"):
            continue
        names.add(family.name + "_total" if family.type == "counter" else family.name)
    return names
