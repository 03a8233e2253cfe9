"""The case simulator: deterministic, covers every category, urgency and behaviour, and each
behaviour ends where it says when its cases and events run through the pure cases core (with
the contracts' schema and record checks at the time each one is sent)."""

from __future__ import annotations

from collections import Counter

import pytest

from gigbridge.divisions import default_table
from gigbridge.simulator.cases import BEHAVIOURS, CaseSimulator
from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from streams.loaders.cases import load_units
from streams.core.cases.deadlines import overdue
from streams.core.cases.lifecycle import CaseState, Transition, apply, open_case, rejection_reply
from streams.core.cases.measures import overdue_by_urgency, unit_measures
from streams.core.cases.records import check_case_event, check_concern_case
from streams.core.cases.units import CATEGORIES, URGENCIES
from streams.core.validate import check_schema

UNITS = load_units()
START = 1_780_000_000_000
CATALOG = default_catalog()
EXISTS = default_table().exists
CASES = CaseSimulator(UNITS, seed=16, start_ms=START).cases(120)


def run(sim_case):
    record = sim_case.record
    assert check_schema(CATALOG.contract("concern_case").latest, record) is None
    assert check_concern_case(record, now_ms=record["submitted_at"], division_exists=EXISTS, units=UNITS) is None
    state = open_case(record, UNITS).state
    first = state
    for ev in sim_case.events:
        assert check_schema(CATALOG.contract("case_event").latest, ev) is None
        assert check_case_event(ev, now_ms=ev["at"], units=UNITS) is None
        result = apply(state, ev, UNITS)
        assert isinstance(result, Transition), (sim_case.behaviour, ev["action"], result)
        state = result.state
    return first, state


FINAL = [(c, *run(c)) for c in CASES]


def test_deterministic_and_seeded():
    again = CaseSimulator(UNITS, seed=16, start_ms=START).cases(120)
    assert again == CASES
    assert CaseSimulator(UNITS, seed=17, start_ms=START).cases(120) != CASES


def test_covers_every_category_urgency_and_behaviour():
    assert {c.record["category"] for c in CASES} == set(CATEGORIES)
    assert {c.record["urgency"] for c in CASES} == set(URGENCIES)
    assert {c.behaviour for c in CASES} == set(BEHAVIOURS)
    assert {c.record["source_kind"] for c in CASES} == {"PLATFORM", "UNION"}


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_each_behaviour_ends_where_it_says(behaviour):
    runs = [(c, first, last) for c, first, last in FINAL if c.behaviour == behaviour]
    assert runs
    for c, first, s in runs:
        dues = (first.accept_due, first.response_due, first.resolution_due)
        if behaviour == "silent":
            assert s.status == "OPEN" and {b.deadline for b in overdue([s], s.resolution_due)} == {
                "accept", "response", "resolution"}
            continue
        assert s.status == "RESOLVED" and s.satisfaction is not None
        on_time = (s.accepted_at <= s.accept_due, s.responded_at <= s.response_due, s.resolved_at <= s.resolution_due)
        if behaviour == "late":
            assert on_time == (False, False, False) and s.satisfaction <= 3
        elif behaviour == "reopened":
            assert s.reopen_count == 1 and s.response_due > first.response_due
        else:
            assert on_time == (True, True, True) and (s.accept_due, s.response_due, s.resolution_due) == dues
        if behaviour == "transfer":
            assert len(s.handling_units) == 2 and s.lead_unit == first.assigned_unit
        if behaviour == "misrouted":
            assert s.lead_unit == UNITS.county_government(s.division_code).id


def test_measures_over_the_simulated_cases():
    states = [last for _, _, last in FINAL]
    rows = unit_measures(states, k=5)
    assert sum(r.received or 0 for r in rows) >= len(states) - 4 * len(rows)  # only small cells hidden
    assert any(r.satisfaction_mean is not None for r in rows)
    silent = Counter(last.urgency for c, _, last in FINAL if c.behaviour == "silent")
    cells = overdue_by_urgency(states, START + 365 * 86_400_000, k=1)
    by_urgency = Counter()
    for (county, urgency), n in cells.items():
        by_urgency[urgency] += n
    assert by_urgency == silent


def test_every_fanned_out_state_and_rejection_fits_its_contract():
    state_v, rejection_v = CATALOG.contract("case_state").latest, CATALOG.contract("case_rejection").latest
    for _, _, last in FINAL:
        decoded = decode(CATALOG, encode(state_v, last.as_record()), expect_contract="case_state")
        assert CaseState.from_record(decoded.record) == last
    c, _, last = FINAL[0]
    replayed_elsewhere = dict(c.events[0], event_id="00000000-0000-4000-8000-000000000000", actor_id="110105-transport",
                              actor_kind="UNIT")
    refused = apply(last, replayed_elsewhere, UNITS)
    assert refused.reason in ("illegal_transition", "actor_not_permitted")
    reply = rejection_reply(replayed_elsewhere, refused, START)
    assert decode(CATALOG, encode(rejection_v, reply.value)).record == reply.value
