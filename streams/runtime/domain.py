"""Domain view for operators: open sites, active/insured workers per county, incidents per
province — as Prometheus metrics with small cells suppressed (k-anonymity).

``DomainState`` is plain data updated from accepted events (pure, unit-tested); the collector
renders it at scrape time, so cardinality stays bounded (county at most, never a site). State
is per worker process: each worker sees the sites of its partitions (ingest topics are keyed by
site), so Prometheus sums across workers; a restarted worker rebuilds it from new events.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.core.policy import suppress_small


def county_label(division_code: str) -> str:
    return division_code[:6]


@dataclass
class DomainState:
    sites: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # (platform, site) -> (county, type)
    headcounts: dict[tuple[str, str], tuple[str, int, int]] = field(default_factory=dict)  # -> (county, active, insured)
    incidents: Counter = field(default_factory=Counter)  # (province, category, severity, weather) -> n

    def apply(self, event_type: str, record: dict) -> None:
        if event_type == "incidents":
            self.incidents[(record["division_code"][:2], record["category"], record["severity"],
                            record["weather"])] += 1
            return
        if event_type not in ("sites", "headcounts"):  # orders: counted by the cover stage
            return
        key = (record["platform_id"], record["site_id"])
        if event_type == "sites":
            if record["action"] == "CLOSED":
                self.sites.pop(key, None)
            else:
                self.sites[key] = (county_label(record["division_code"]), record["site_type"])
        elif event_type == "headcounts":
            self.headcounts[key] = (county_label(record["division_code"]), record["active_workers"],
                                    record["insured_workers"])

    def sites_open(self) -> Counter:
        return Counter(self.sites.values())

    def workers(self) -> tuple[Counter, Counter]:
        active, insured = Counter(), Counter()
        for county, n_active, n_insured in self.headcounts.values():
            active[county] += n_active
            insured[county] += n_insured
        return active, insured


class DomainCollector(Collector):
    """Exports a DomainState; cells with counts 1..k-1 are left out, never published."""

    def __init__(self, state: DomainState, k: int = 5) -> None:
        self.state, self.k = state, k

    def _cells(self, counts: Counter):
        for labels, n in sorted(counts.items()):
            value = suppress_small(n, self.k)
            if value is not None:
                yield (labels if isinstance(labels, tuple) else (labels,)), value

    def collect(self):
        sites = GaugeMetricFamily("gigbridge_sites_open", "Open sites by county and site type",
                                  labels=["county", "site_type"])
        for labels, n in self._cells(self.state.sites_open()):
            sites.add_metric(list(labels), n)
        active_counts, insured_counts = self.state.workers()
        active = GaugeMetricFamily("gigbridge_active_workers", "Active workers by county (latest headcounts)",
                                   labels=["county"])
        for labels, n in self._cells(active_counts):
            active.add_metric(list(labels), n)
        insured = GaugeMetricFamily("gigbridge_insured_workers",
                                    "Workers with occupational-injury cover by county (latest headcounts)",
                                    labels=["county"])
        for labels, n in self._cells(insured_counts):
            insured.add_metric(list(labels), n)
        incidents = CounterMetricFamily("gigbridge_incidents", "Incidents by province, category, severity, weather",
                                        labels=["province", "category", "severity", "weather"])
        for labels, n in self._cells(self.state.incidents):
            incidents.add_metric(list(labels), n)
        return [sites, active, insured, incidents]

    def describe(self):
        return []
