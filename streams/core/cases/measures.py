"""Case measures per county and unit, from a list of case states, with small cells suppressed.

Attribution follows first-receiver-leads: a case counts as *received* by every unit it was routed,
transferred or assigned to; acceptance, response, resolution, reopening and satisfaction count for
its lead unit (the first that accepted). Rates of the current round are measured (a reopened case
starts a new round). Every count between 1 and k-1 -- and a satisfaction mean over fewer than k
feedbacks -- is published as None, with the same :func:`streams.core.policy.suppress_small` the
monitoring policy uses.

With several workers each holds the cases of its partitions: :func:`measure_counts` of each
partition are additive (:func:`combine`), and only the sum is suppressed (:func:`suppressed`), so
the published figures equal those of one worker holding every case.
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


@dataclass(frozen=True, slots=True)
class MeasureCounts:
    """The unsuppressed counts behind the measures of some cases: additive, so the counts of
    disjoint sets of cases (one per partition) sum to the counts of their union.

    ``units``: (county, unit) -> the COUNTS plus ``feedbacks`` and ``score_sum``;
    ``overdue``: (county, urgency) -> open cases past a deadline at the time they were counted.
    """

    units: dict[tuple[str, str], Counter]
    overdue: Counter

    def as_record(self) -> dict:
        """A JSON-able form (cell keys joined by ``/``: neither a county nor a unit id has one)."""
        return {"units": {f"{c}/{u}": dict(n) for (c, u), n in sorted(self.units.items())},
                "overdue": {f"{c}/{g}": n for (c, g), n in sorted(self.overdue.items())}}

    @classmethod
    def from_record(cls, record: dict) -> "MeasureCounts":
        return cls({tuple(key.split("/", 1)): Counter(n) for key, n in record["units"].items()},
                   Counter({tuple(key.split("/", 1)): n for key, n in record["overdue"].items()}))


def measure_counts(states: Iterable[CaseState], now_ms: int) -> MeasureCounts:
    """The unsuppressed counts of these cases (overdue as of ``now_ms``)."""
    states = list(states)
    units: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for state in states:
        county = truncate(state.division_code, Level.COUNTY)
        for unit in dict.fromkeys((*state.handling_units, *state.co_units)):
            units[county, unit]["received"] += 1
        if state.lead_unit is not None:
            lead = units[county, state.lead_unit]
            lead.update(_lead_counts(state))
            if state.satisfaction is not None:
                lead["feedbacks"] += 1
                lead["score_sum"] += state.satisfaction
    late = {breach.case_id for breach in overdue(states, now_ms)}
    cells = Counter((truncate(s.division_code, Level.COUNTY), s.urgency) for s in states if s.case_id in late)
    return MeasureCounts(dict(units), cells)


def combine(parts: Iterable[MeasureCounts]) -> MeasureCounts:
    """The counts of the union of disjoint sets of cases."""
    units: dict[tuple[str, str], Counter] = defaultdict(Counter)
    overdue_cells: Counter = Counter()
    for part in parts:
        for cell, n in part.units.items():
            units[cell].update(n)
        overdue_cells.update(part.overdue)
    return MeasureCounts(dict(units), overdue_cells)


def suppressed(counts: MeasureCounts, k: int = DEFAULT_K) -> tuple[list[UnitMeasures], dict[tuple[str, str], int | None]]:
    """(one row per (county, unit), sorted; the overdue cells) with counts suppressed below ``k``."""
    rows = []
    for (county, unit), c in sorted(counts.units.items()):
        shown = suppress_small(c["feedbacks"], k)
        mean = round(c["score_sum"] / c["feedbacks"], 2) if shown else None
        rows.append(UnitMeasures(county, unit, *(suppress_small(c[name], k) for name in COUNTS), shown, mean))
    return rows, {cell: suppress_small(n, k) for cell, n in sorted(counts.overdue.items()) if n}


def unit_measures(states: Iterable[CaseState], k: int = DEFAULT_K) -> list[UnitMeasures]:
    """One row per (county of the case, unit), sorted; counts suppressed below ``k``."""
    return suppressed(measure_counts(states, 0), k)[0]


def overdue_by_urgency(states: Iterable[CaseState], now_ms: int, k: int = DEFAULT_K) -> dict[tuple[str, str], int | None]:
    """Open cases past at least one deadline now, per (county, urgency), suppressed below ``k``."""
    return suppressed(measure_counts(states, now_ms), k)[1]
