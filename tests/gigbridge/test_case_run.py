"""The demo's case traffic (gigbridge.simulator.case_run): only what has happened by now, in
rounds so no step overtakes its case, every behaviour present, and overdue cases left for the timer."""

from __future__ import annotations

from gigbridge.simulator.case_run import DAY_MS, case_rounds, expected_overdue
from gigbridge.simulator.cases import CaseSimulator
from streams.loaders.cases import load_units

UNITS = load_units()
NOW = 1_780_000_000_000


def test_rounds_hold_the_past_only_cases_first():
    cases = CaseSimulator(UNITS, seed=3, start_ms=NOW - 20 * DAY_MS, spacing_ms=20 * DAY_MS // 120).cases(120)
    rounds = case_rounds(cases, NOW)
    assert {m.contract for m in rounds[0]} == {"concern_case"}
    assert all(m.contract == "case_event" for r in rounds[1:] for m in r)
    assert all(m.record.get("at", m.record.get("submitted_at")) <= NOW for r in rounds for m in r)
    sent = {m.key for m in rounds[0]}
    assert sent == {c.record["case_id"] for c in cases if c.record["source_kind"] == "PLATFORM"}
    assert {c.behaviour for c in cases if c.record["case_id"] in sent} == {
        "prompt", "transfer", "late", "silent", "misrouted", "reopened"}
    topics = {m.topic for r in rounds for m in r}
    assert any(t.startswith("gov.units.") for t in topics) and any(t.endswith(".case-events") and
                                                                     t.startswith("platform.") for t in topics)
    overdue = expected_overdue(rounds, UNITS, NOW)  # silent and late cases: the timer's work
    assert set(overdue) <= {"EMERGENCY", "URGENT", "GENERAL", "COMPLEX", "all"}
    assert overdue["all"] >= 10  # at least the silent cases
