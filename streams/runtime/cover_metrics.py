"""Prometheus metrics of the cover stage (``streams.runtime.cover_step``), counted once a unit
of work's records are acknowledged (a unit that fails and runs again is counted once).

Labels are bounded: platform ids, 2-digit province codes, contract names, gap kinds and match kinds.
"""

from __future__ import annotations

import collections

from prometheus_client import Counter

from streams.core.cover.emits import DuplicateOrder, Emit

DUPLICATE_PREMIUMS = Counter("gigbridge_cover_duplicate_premiums_total",
                             "OrderCover events for an order_ref already counted (another event): premium "
                             "not counted again", ["platform", "province"])
COVER_RECORDS = Counter("gigbridge_cover_records_emitted_total",
                        "WorkerDayCover, PremiumStatement, CoverGap and IncidentCoverLink records emitted (amended versions "
                        "included)", ["contract"])
COVER_GAPS = Counter("gigbridge_cover_gaps_total",
                     "Insured incidents without matching cover once the grace has passed",
                     ["platform", "province", "gap"])

COVER_LINKS = Counter("gigbridge_cover_links_total",
                      "Insured incidents matched to cover (IncidentCoverLink records emitted)",
                      ["platform", "province", "matched_by"])

_PER_CONTRACT = {
    "cover_gap": (COVER_GAPS, ("platform_id", "province", "gap")),
    "incident_cover_link": (COVER_LINKS, ("platform_id", "province", "matched_by")),
}


def record_emits(emits: list) -> None:
    """Count what one unit of work emitted (tallied first: one ``inc`` per label set)."""
    tally: collections.Counter = collections.Counter()
    for e in emits:
        if isinstance(e, DuplicateOrder):
            tally[(DUPLICATE_PREMIUMS, (e.platform_id, e.province))] += 1
        elif isinstance(e, Emit):
            tally[(COVER_RECORDS, (e.contract,))] += 1
            if e.contract in _PER_CONTRACT:
                metric, fields = _PER_CONTRACT[e.contract]
                tally[(metric, tuple(e.record[f] for f in fields))] += 1
    for (metric, labels), n in tally.items():
        metric.labels(*labels).inc(n)
