"""The metric names the hub exports: the one list the dashboard and alert-rule tests check against.

``exported_metric_names()`` uses ``streams.runtime.metrics.exported_metric_names()`` when the hub provides
it (the real registry), else the static contract below. Either way the result says which one it
is (``.source``), so a failing test names the list it compared against. Names are as they appear
in PromQL: counters with ``_total``, histograms by their base name (``_bucket``/``_sum``/``_count``
are derived), gauges as is.
"""

from __future__ import annotations

from collections.abc import Iterable

# The contract (metric -> labels). Scrape-time labels (job, instance) and Prometheus' own `up`
# are not hub metrics; `up` is listed in PROMETHEUS_METRICS.
CONTRACT: dict[str, tuple[str, ...]] = {
    "gigbridge_events_received_total": ("platform", "type"),
    "gigbridge_events_valid_total": ("platform", "type"),
    "gigbridge_events_rejected_total": ("platform", "type", "reason"),
    "gigbridge_duplicates_dropped_total": ("platform", "type"),
    "gigbridge_dlq_writes_total": ("topic", "reason"),
    "gigbridge_routed_total": ("destination", "type"),
    "gigbridge_batch_processing_seconds": (),  # histogram
    "gigbridge_end_to_end_latency_seconds": ("type",),  # histogram
    "gigbridge_hub_latency_seconds": ("type",),  # histogram
    "gigbridge_consumer_lag_messages": ("topic",),
    "gigbridge_subscribed_ingest_topics": (),
    "gigbridge_delivery_retries_total": (),
    "gigbridge_sink_outcomes_total": ("sink", "outcome", "reason"),
    "gigbridge_sink_retries_total": ("sink", "reason"),
    "gigbridge_sink_paused": ("sink",),
    "gigbridge_sink_pending": ("sink",),
    "gigbridge_sink_request_seconds": ("sink",),  # histogram
    "gigbridge_sink_attempts": ("sink",),  # histogram
    "gigbridge_sites_open": ("county", "site_type"),
    "gigbridge_active_workers": ("county",),
    "gigbridge_insured_workers": ("county",),
    "gigbridge_incidents_total": ("province", "category", "severity", "weather"),
    "gigbridge_case_inputs_total": ("stream", "outcome"),  # concern cases: streams/runtime/cases/metrics.py
    "gigbridge_case_steps_total": ("outcome", "reason"),
    "gigbridge_case_deadline_breaches_total": ("deadline", "urgency"),
    "gigbridge_cases_unit": ("county", "unit", "measure"),
    "gigbridge_cases_satisfaction_mean": ("county", "unit"),
    "gigbridge_cases_overdue": ("county", "urgency"),
    "gigbridge_worker_ready": (),  # gauge, defined in streams/runtime/health.py
    # the claims stream (streams/runtime/claims.py)
    "gigbridge_claim_updates_total": ("province", "outcome", "reason"),
    "gigbridge_claims_determination_overdue": ("province", "platform"),
    # the cover stage (streams/runtime/cover_metrics.py)
    "gigbridge_cover_duplicate_premiums_total": ("platform", "province"),
    "gigbridge_cover_records_emitted_total": ("contract",),
    "gigbridge_cover_gaps_total": ("platform", "province", "gap"),
    "gigbridge_cover_links_total": ("platform", "province", "matched_by"),
    # the notice flows (streams/runtime/notices/metrics.py)
    "gigbridge_notices_overdue": ("province", "level"),
    "gigbridge_notice_tracks": ("state",),
    "gigbridge_notice_open_sites": (),
    "gigbridge_notice_owner": (),
    "gigbridge_notice_measures_total": ("outcome",),
    "gigbridge_algorithm_changes_total": ("outcome",),
    "gigbridge_notice_injuries": ("phase",),
    "gigbridge_notice_exposed_workers": ("phase",),
    "gigbridge_notice_injuries_per_10000": ("phase",),
    # the ingest gateway (connectors/gateway/metrics.py) and the standalone registry
    "gigbridge_gateway_requests_total": ("platform", "status"),
    "gigbridge_gateway_events_total": ("platform", "type", "outcome"),
    "gigbridge_gateway_request_seconds": (),  # histogram
    "gigbridge_gateway_connections": (),
    "gigbridge_gateway_connections_closed_total": ("reason",),
    "gigbridge_registry_requests_total": ("status",),
}

PROMETHEUS_METRICS = frozenset({"up"})

# Series suffixes a histogram (or a counter's _created) adds to its base name.
DERIVED_SUFFIXES = ("_bucket", "_sum", "_count", "_created")


class MetricNames(frozenset):
    """A frozenset of metric names that remembers where it came from."""

    source: str

    def __new__(cls, names: Iterable[str], source: str) -> "MetricNames":
        self = super().__new__(cls, names)
        self.source = source
        return self

    def knows(self, name: str) -> bool:
        """``name`` is exported, directly or as a derived series (``_bucket`` ...) of an export."""
        if name in self:
            return True
        return any(name.endswith(s) and name[: -len(s)] in self for s in DERIVED_SUFFIXES)


def connector_metric_names() -> set[str]:
    """The gateway's and the standalone registry's metrics (their own processes and scrape jobs),
    collected from fresh registries, named as in PromQL."""
    from prometheus_client import CollectorRegistry

    from connectors.gateway.metrics import GatewayMetrics
    from connectors.registry.metrics import requests_counter

    registry = CollectorRegistry()
    GatewayMetrics(registry)
    requests_counter(registry)
    return {family.name + "_total" if family.type == "counter" else family.name for family in registry.collect()}


def exported_metric_names() -> MetricNames:
    try:
        # streams.runtime.health registers gigbridge_worker_ready; the worker imports it (streams.runtime.app),
        # streams.runtime.metrics does not, so import it here for the registry to be the worker's.
        import streams.runtime.health  # noqa: F401
        import streams.runtime.claims  # noqa: F401 - the claims stream's metrics, registered by the worker too
        import streams.runtime.cases.metrics  # noqa: F401 - the case flows' metrics (the worker registers them)
        from streams.runtime.metrics import exported_metric_names as from_registry
    except ImportError as exc:
        return MetricNames(CONTRACT, f"static contract list in tests/deploy/metric_names.py "
                                     f"(streams.runtime.metrics.exported_metric_names not importable: {exc})")
    return MetricNames(from_registry() | connector_metric_names(),
                       "streams.runtime.metrics.exported_metric_names() (the hub's registry) + the gateway's and "
                       "registry's (connector_metric_names)")
