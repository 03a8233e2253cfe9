"""Case measures over several workers (streams.core.cases.measures): the unsuppressed counts of
disjoint sets of cases, each through its JSON form, sum to the counts of all the cases -- so
suppressing only the sum publishes what one worker holding every case would."""

from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from streams.core.cases.measures import (
    MeasureCounts, combine, measure_counts, overdue_by_urgency, suppressed, unit_measures,
)
from tests.support.case_states import simulated_states

START = 1_780_000_000_000
NOW = START + 10 * 86_400_000
STATES = simulated_states(START)


def through_json(counts: MeasureCounts) -> MeasureCounts:
    return MeasureCounts.from_record(json.loads(json.dumps(counts.as_record())))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=len(STATES), max_size=len(STATES)))
def test_partition_counts_sum_to_the_counts_of_every_case(owner_of):
    parts = [[s for s, p in zip(STATES, owner_of) if p == part] for part in range(4)]
    total = combine(through_json(measure_counts(part, NOW)) for part in parts)
    assert suppressed(total, k=5) == (unit_measures(STATES, k=5), overdue_by_urgency(STATES, NOW, k=5))


def test_suppressing_per_worker_would_undercount():
    """Why only the sum is suppressed: halves of a county's cells fall below k and vanish."""
    halves = (STATES[::2], STATES[1::2])
    whole = {(r.county, r.unit): r.received for r in unit_measures(STATES, k=5)}
    per_worker: dict = {}
    for half in halves:
        for row in unit_measures(half, k=5):
            per_worker[row.county, row.unit] = (per_worker.get((row.county, row.unit)) or 0) + (row.received or 0)
    assert any(per_worker.get(cell, 0) != n for cell, n in whole.items() if n is not None)
    summed = suppressed(combine(measure_counts(h, NOW) for h in halves), k=5)[0]
    assert {(r.county, r.unit): r.received for r in summed} == whole
