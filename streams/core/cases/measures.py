"""Case measures per county and unit, from a list of case states, with small cells suppressed.

Attribution follows first-receiver-leads: a case counts as *received* by every unit it was routed,
transferred or assigned to; acceptance, response, resolution, reopening and satisfaction count for
its lead unit (the first that accepted). Rates of the current round are measured (a reopened case
starts a new round). Every count between 1 and k-1 -- and a satisfaction mean over fewer than k
feedbacks -- is published as None, with the same :func:`streams.core.policy.suppress_small` the
monitoring policy uses.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable

from gigbridge.divisions import Level, truncate
from streams.core.cases.deadlines import overdue
from streams.core.cases.lifecycle import CaseState
from streams.core.policy import DEFAULT_K, suppress_small

COUNTS = ("received", "accepted_on_time", "responded_on_time", "resolved", "reopened")


@dataclass(frozen=True, slots=True)
class UnitMeasures:
    county: str  # 6 digits
    unit: str
    received: int | None
    accepted_on_time: int | None
    responded_on_time: int | None
    resolved: int | None
    reopened: int | None
    feedbacks: int | None
    satisfaction_mean: float | None


def _lead_counts(state: CaseState) -> Counter:
    c = Counter()
    c["accepted_on_time"] += state.accepted_at is not None and state.accepted_at <= state.accept_due
    c["responded_on_time"] += state.responded_at is not None and state.responded_at <= state.response_due
    c["resolved"] += state.status == "RESOLVED"
    c["reopened"] += state.reopen_count > 0
    return c


def unit_measures(states: Iterable[CaseState], k: int = DEFAULT_K) -> list[UnitMeasures]:
    """One row per (county of the case, unit), sorted; counts suppressed below ``k``."""
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    scores: dict[tuple[str, str], list[int]] = defaultdict(list)
    for state in states:
        county = truncate(state.division_code, Level.COUNTY)
        for unit in dict.fromkeys((*state.handling_units, *state.co_units)):
            counts[county, unit]["received"] += 1
        if state.lead_unit is not None:
            counts[county, state.lead_unit].update(_lead_counts(state))
            if state.satisfaction is not None:
                scores[county, state.lead_unit].append(state.satisfaction)
    rows = []
    for (county, unit), c in sorted(counts.items()):
        given = scores[county, unit]
        shown = suppress_small(len(given), k)
        mean = round(sum(given) / len(given), 2) if shown else None
        rows.append(UnitMeasures(county, unit, *(suppress_small(c[name], k) for name in COUNTS), shown, mean))
    return rows


def overdue_by_urgency(states: Iterable[CaseState], now_ms: int, k: int = DEFAULT_K) -> dict[tuple[str, str], int | None]:
    """Open cases past at least one deadline now, per (county, urgency), suppressed below ``k``."""
    states = list(states)
    late = {breach.case_id for breach in overdue(states, now_ms)}
    cells = Counter((truncate(s.division_code, Level.COUNTY), s.urgency) for s in states if s.case_id in late)
    return {key: suppress_small(n, k) for key, n in sorted(cells.items())}
