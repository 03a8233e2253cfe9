"""Prometheus metrics of the notice flows (the worker's /metrics serves the default registry).
Only counts by province, level and state: no notice or platform label, so the series stay few."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import Counter, Gauge

OVERDUE = Gauge("gigbridge_notices_overdue", "ORANGE/RED notice x concerned platform tracks without a "
                "protection measure past the configured time", ["province", "level"])
TRACKS = Gauge("gigbridge_notice_tracks", "notice x concerned platform tracks by answer state", ["state"])
OPEN_SITES = Gauge("gigbridge_notice_open_sites", "open sites known to the notice flows (concerned platforms)")
MEASURES = Counter("gigbridge_notice_measures_total", "ProtectionMeasure records by outcome", ["outcome"])
RULE_CHANGES = Counter("gigbridge_algorithm_changes_total", "AlgorithmRuleChange records by outcome", ["outcome"])

STATES = ("AWAITING", "ANSWERED", "OVERDUE", "CANCELLED")


def set_gauges(overdue: Tally, states: Tally) -> None:
    """Replace the gauges' values (a cell that went to zero is set to 0, not left stale)."""
    for labels in list(_seen):
        if labels not in overdue:
            OVERDUE.labels(*labels).set(0)
    for labels, count in overdue.items():
        OVERDUE.labels(*labels).set(count)
        _seen.add(labels)
    for state in STATES:
        TRACKS.labels(state).set(states.get(state, 0))


_seen: set[tuple[str, str]] = set()
