"""Deadline breaches found from the states and the clock alone (for timers), incident
acknowledgements, and the per county/unit measures with small-cell suppression."""

from __future__ import annotations

import uuid
from dataclasses import replace

from streams.loaders.cases import load_units
from streams.core.cases.acks import AckState, acks_topic, apply_ack
from streams.core.cases.deadlines import next_due, overdue
from streams.core.cases.lifecycle import apply, open_case
from streams.core.cases.measures import overdue_by_urgency, unit_measures
from streams.core.policy import suppress_small

UNITS = load_units()
M, H, D = 60_000, 3_600_000, 86_400_000
T0 = 1_780_000_000_000


def case(urgency="EMERGENCY", division="440305000000", category="INJURY_CLAIM", **kw):
    return {"case_id": str(uuid.uuid4()), "source_kind": "PLATFORM", "source_id": "parcelgo", "platform_id": "parcelgo",
            "division_code": division, "category": category, "urgency": urgency, "summary": "s", "submitted_at": T0,
            **kw}


def step(state, action, unit, at, **kw):
    ev = {"event_id": str(uuid.uuid4()), "case_id": state.case_id, "action": action, "actor_kind": "UNIT",
          "actor_id": unit, "target_unit": None, "reason_code": None, "satisfaction": None, "note": None, "at": at, **kw}
    return apply(state, ev, UNITS).state


def test_breaches_are_found_by_the_clock_without_an_event():
    s = open_case(case(), UNITS).state  # EMERGENCY: accept 30 min, respond 2 h, resolve 1 d
    assert overdue([s], T0 + 29 * M) == [] and next_due(s, T0) == T0 + 30 * M
    [b] = overdue([s], T0 + 31 * M)
    assert (b.deadline, b.unit, b.urgency, b.due) == ("accept", "440305-hrss", "EMERGENCY", T0 + 30 * M)
    assert [b.deadline for b in overdue([s], T0 + 2 * H)] == ["accept", "response"]
    late = step(s, "ACCEPTED", "440305-hrss", T0 + 40 * M)
    assert [b.deadline for b in overdue([late], T0 + 3 * H)] == ["response"]
    assert next_due(late, T0 + 3 * H) == T0 + D


def test_a_transfer_does_not_stop_the_clock_and_closed_cases_are_never_overdue():
    s = step(open_case(case(), UNITS).state, "ACCEPTED", "440305-hrss", T0 + 10 * M)
    s = step(s, "TRANSFERRED", "440305-hrss", T0 + H, target_unit="110105-hrss")
    [b] = overdue([s], T0 + 2 * H)
    assert (b.deadline, b.unit, b.due) == ("response", "110105-hrss", T0 + 2 * H)
    s = step(s, "ACCEPTED", "110105-hrss", T0 + 3 * H)
    s = step(s, "RESOLVED", "110105-hrss", T0 + 4 * H)
    assert overdue([s], T0 + 10 * D) == [] and next_due(s, T0) is None


def ack(action, unit="440305001-gov", **kw):
    return {"event_id": str(uuid.uuid4()), "platform_id": "parcelgo", "incident_id": "PG-1", "unit_id": unit,
            "action": action, "target_unit": None, "note": None, "at": T0, **kw}


def test_incident_acknowledgements():
    assert apply_ack(None, ack("VISITED")).reason == "not_received"
    first = ack("RECEIVED")
    s = apply_ack(None, first)
    assert apply_ack(s, first) is s  # replay
    assert apply_ack(s, ack("VISITED", unit="440305-hrss")).reason == "actor_not_permitted"
    s = apply_ack(s, ack("REFERRED", target_unit="440305-hrss"))
    s = apply_ack(s, ack("VISITED", unit="440305-hrss"))
    assert isinstance(s, AckState) and s.steps == ("RECEIVED", "REFERRED", "VISITED")
    assert apply_ack(s, ack("VISITED")).reason == "illegal_transition"
    assert apply_ack(s, ack("VISITED", incident_id="PG-2")).reason == "incident_mismatch"
    assert acks_topic("parcelgo") == "platform.parcelgo.incident-acks"


def resolved_case(unit_on_time: bool, score: int | None):
    s = open_case(case(urgency="GENERAL", division="110105001000", category="PAY"), UNITS).state
    s = step(s, "ACCEPTED", "110105-hrss", T0 + (H if unit_on_time else 2 * D))
    s = step(s, "RESPONDED", "110105-hrss", T0 + (D if unit_on_time else 8 * D))
    s = step(s, "RESOLVED", "110105-hrss", T0 + 9 * D)
    if score is not None:
        ev = {"event_id": str(uuid.uuid4()), "case_id": s.case_id, "action": "FEEDBACK", "actor_kind": "PLATFORM",
              "actor_id": "parcelgo", "target_unit": None, "reason_code": None, "satisfaction": score, "note": None,
              "at": T0 + 10 * D}
        s = apply(s, ev, UNITS).state
    return s


def test_unit_measures_attribute_to_the_lead_and_suppress_small_cells():
    states = [resolved_case(True, 5) for _ in range(4)] + [resolved_case(False, 3) for _ in range(2)]
    rows = {(r.county, r.unit): r for r in unit_measures(states, k=5)}
    hrss = rows["110105", "110105-hrss"]
    assert (hrss.received, hrss.resolved, hrss.feedbacks) == (6, 6, 6)
    assert hrss.accepted_on_time is None and hrss.responded_on_time is None  # 4 < k
    assert hrss.satisfaction_mean == round((4 * 5 + 2 * 3) / 6, 2)
    assert hrss.reopened == 0
    rows = {(r.county, r.unit): r for r in unit_measures(states, k=2)}
    assert (rows["110105", "110105-hrss"].accepted_on_time, rows["110105", "110105-hrss"].responded_on_time) == (4, 4)


def test_received_counts_every_unit_involved_and_small_satisfaction_is_hidden():
    s = open_case(case(urgency="URGENT", division="310115005000", category="PAY"), UNITS).state
    s = step(s, "TRANSFERRED", "310115-hrss", T0 + H, target_unit="310115-amr")
    rows = {(r.county, r.unit): r for r in unit_measures([s] * 5, k=5)}
    assert rows["310115", "310115-hrss"].received == 5 and rows["310115", "310115-amr"].received == 5
    assert rows["310115", "310115-amr"].accepted_on_time == 0  # nobody accepted: no lead
    one = resolved_case(True, 4)
    row = {(r.county, r.unit): r for r in unit_measures([one], k=5)}["110105", "110105-hrss"]
    assert (row.received, row.feedbacks, row.satisfaction_mean) == (None, None, None)
    assert suppress_small(1, 5) is None  # the same function the monitoring policy applies


def test_overdue_by_urgency_per_county():
    emergencies = [open_case(case(), UNITS).state for _ in range(5)]
    general = [open_case(case(urgency="GENERAL"), UNITS).state for _ in range(2)]
    cells = overdue_by_urgency(iter(emergencies + general), T0 + 3 * H, k=5)
    assert cells == {("440305", "EMERGENCY"): 5}
    cells = overdue_by_urgency(emergencies + general, T0 + 8 * D, k=5)
    assert cells == {("440305", "EMERGENCY"): 5, ("440305", "GENERAL"): None}
    closed = [replace(s, status="RESOLVED", resolved_at=T0) for s in emergencies]
    assert overdue_by_urgency(closed, T0 + 8 * D) == {}
