"""Prometheus metrics of the notice flows (the worker's /metrics serves the default registry).
Only counts by province, level and state: no notice or platform label, so the series stay few."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import Counter, Gauge

OVERDUE = Gauge("gigbridge_notices_overdue", "ORANGE/RED notice x concerned platform tracks without a "
                "protection measure past the configured time", ["province", "level"])
TRACKS = Gauge("gigbridge_notice_tracks", "notice x concerned platform tracks by answer state", ["state"])
OPEN_SITES = Gauge("gigbridge_notice_open_sites", "open sites known to the notice flows (concerned platforms)")
OWNER = Gauge("gigbridge_notice_owner", "1 while this worker owns the notice flows' partitions (one worker of "
              "the group does), 0 while it stands by")
MEASURES = Counter("gigbridge_notice_measures_total", "ProtectionMeasure records by outcome", ["outcome"])
RULE_CHANGES = Counter("gigbridge_algorithm_changes_total", "AlgorithmRuleChange records by outcome", ["outcome"])

INJURIES = Gauge("gigbridge_notice_injuries", "incidents inside a warning's area and window, before or after "
                 "the platform's first protection measure (cells below k left out)", ["phase"])
EXPOSED_WORKERS = Gauge("gigbridge_notice_exposed_workers", "active workers of the platforms in a warning's area, "
                        "summed over warnings, per phase (cells below k left out)", ["phase"])
INJURY_RATE = Gauge("gigbridge_notice_injuries_per_10000", "injuries per 10,000 active workers during warnings, "
                    "before or after the first measure (no series while a count is suppressed)", ["phase"])

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


def set_injury_rates(rates: dict[str, dict]) -> None:
    """Publish :func:`streams.core.notices.injuries.injury_rates`: a suppressed (None) cell has
    no series at all, as the monitoring gauges leave small cells out."""
    for phase, cell in rates.items():
        for gauge, value in ((INJURIES, cell["injuries"]), (EXPOSED_WORKERS, cell["active_workers"]),
                             (INJURY_RATE, cell["per_10000"])):
            if value is None:
                try:
                    gauge.remove(phase)
                except KeyError:
                    pass
            else:
                gauge.labels(phase).set(value)


def stand_by() -> None:
    """The worker no longer owns the notice flows: its gauges drop to zero or vanish, so that
    summing over workers (the overdue alert) counts the owner's values only."""
    OWNER.set(0)
    OPEN_SITES.set(0)
    set_gauges(Tally(), Tally())
    for gauge in (INJURIES, EXPOSED_WORKERS, INJURY_RATE):
        gauge.clear()
