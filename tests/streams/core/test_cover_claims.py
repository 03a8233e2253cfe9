"""Claim status: the transition table (exhaustively and with Hypothesis), static validation,
and the 5-working-day determination deadline over the State Council holiday calendar."""

from __future__ import annotations

import copy
import itertools
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.examples import REFERENCE_NOW_MS, load_examples
from streams.core.cover.claims import (
    ILLEGAL_REASONS,
    NEXT_STATUS,
    STATUSES,
    ClaimState,
    apply_claim_status,
    check_claim_status,
    claims_topic,
    determination_overdue,
)
from streams.core.cover.cst import day_end_ms, day_start_ms
from streams.core.cover.workdays import CalendarError, determination_due, parse_calendar
from streams.loaders.cover import DEFAULT_HOLIDAYS_PATH, load_calendar

CAL = load_calendar()
BASE = {"platform_id": "swiftdash", "incident_id": "INC-1", "claim_ref": "GD-OIP-1", "occurred_at": 1_780_000_000_000}
DECISIONS = (None, "ACCEPTED", "DENIED")


def update(status, decision=None, **kw):
    reason = "NOT_DURING_ORDER" if decision == "DENIED" else None
    return {**BASE, "status": status, "decision": decision, "reason_code": reason, **kw}


def state(status, decision=None):
    reason = "NOT_DURING_ORDER" if decision == "DENIED" else None
    return ClaimState("GD-OIP-1", "swiftdash", "INC-1", status, decision, reason, BASE["occurred_at"])


def well_formed(status, decision):
    return (decision is not None) == (status == "DETERMINED")


# -- the transition table, every (state, update) pair ----------------------------------------

STATES = [None] + [state(s, d) for s in STATUSES for d in DECISIONS if well_formed(s, d) or (s == "PAID" and d == "ACCEPTED")]
UPDATES = [(s, d) for s in STATUSES for d in DECISIONS if well_formed(s, d)]


@pytest.mark.parametrize(("current", "incoming"), list(itertools.product(STATES, UPDATES)),
                         ids=lambda x: getattr(x, "status", None) and f"{x.status}-{x.decision}" or str(x))
def test_transition_table_exhaustively(current, incoming):
    status, decision = incoming
    outcome = apply_claim_status(current, update(status, decision))
    cur = None if current is None else current.status
    if cur == status and (status != "DETERMINED" or decision == current.decision):
        assert outcome.kind == "repeat" and outcome.state is current
    elif cur == status:
        assert (outcome.kind, outcome.reason) == ("illegal", "decision_changed")
    elif status == NEXT_STATUS[cur] and (status != "PAID" or current.decision == "ACCEPTED"):
        assert outcome.kind == "routed" and outcome.state.status == status
        assert outcome.state.received_at == BASE["occurred_at"]
        if status == "DETERMINED":
            assert outcome.state.decision == decision
    else:
        assert outcome.kind == "illegal" and outcome.reason in ILLEGAL_REASONS
        assert outcome.state is current


def test_named_illegal_transitions():
    assert apply_claim_status(None, update("UNDER_REVIEW")).reason == "claim_not_received"
    assert apply_claim_status(state("RECEIVED"), update("DETERMINED", "ACCEPTED")).reason == "status_skipped"
    assert apply_claim_status(state("UNDER_REVIEW"), update("RECEIVED")).reason == "status_regression"
    assert apply_claim_status(state("DETERMINED", "DENIED"), update("PAID")).reason == "paid_after_denial"
    assert apply_claim_status(state("DETERMINED", "ACCEPTED"), update("DETERMINED", "DENIED")).reason == "decision_changed"
    other = update("UNDER_REVIEW", incident_id="INC-2")
    assert apply_claim_status(state("RECEIVED"), other).reason == "claim_incident_mismatch"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(UPDATES), max_size=12))
def test_any_sequence_only_ever_moves_forward_and_paid_means_accepted(sequence):
    current, routed = None, []
    for status, decision in sequence:
        outcome = apply_claim_status(current, update(status, decision))
        if outcome.kind == "routed":
            routed.append(status)
        current = outcome.state
    assert routed == list(STATUSES[: len(routed)])  # a prefix of the lifecycle, each stage once
    if current is not None and current.status == "PAID":
        assert current.decision == "ACCEPTED"


def test_routing_is_per_platform_keyed_by_incident():
    assert claims_topic("cityride") == "platform.cityride.claims"


# -- static validation --------------------------------------------------------------------------

def test_identifier_in_claim_fields_is_pii_detected():
    received = next(e.payload for e in load_examples(contract="claim_status", kind="valid") if e.name == "received_defaults")
    for field in ("incident_id", "claim_ref"):
        record = dict(copy.deepcopy(received), decision=None, reason_code=None, **{field: "13800138000"})
        rejection = check_claim_status(record, now_ms=REFERENCE_NOW_MS)
        assert (rejection.reason, rejection.field) == ("pii_detected", field)
        assert "13800138000" not in rejection.message


# -- working days ----------------------------------------------------------------------------------

def test_holiday_file_matches_the_notices():
    text = DEFAULT_HOLIDAYS_PATH.read_text(encoding="utf-8")
    assert CAL.years == {2025, 2026}
    # days off per notice: 2025: 1 + 8 + 3 + 5 + 3 + 8 = 28; 2026: 3 + 9 + 3 + 5 + 3 + 3 + 7 = 33
    assert sum(d.year == 2025 for d in CAL.holidays) == 28 and sum(d.year == 2026 for d in CAL.holidays) == 33
    assert not CAL.is_working_day(date(2026, 2, 17))  # Spring Festival 2026
    assert CAL.is_working_day(date(2026, 2, 14))  # a Saturday worked (调休)
    assert CAL.is_working_day(date(2025, 10, 11)) and not CAL.is_working_day(date(2025, 10, 8))
    assert "国办发明电〔2024〕12号" in text


@pytest.mark.parametrize(("received", "due"), [
    ("2026-05-26", "2026-06-02"),  # Tuesday: next Tue (weekend skipped)
    ("2026-02-13", "2026-02-27"),  # Friday before Spring Festival: Sat 14th worked, 15-23 off
    ("2026-09-30", "2026-10-13"),  # National Day: 1-7 off, Sat 10th worked
    ("2025-04-30", "2025-05-12"),  # Labour Day 2025: 1-5 off
    ("2027-03-05", "2027-03-12"),  # a year the file lacks: weekends only
])
def test_determination_due_is_five_working_days(received, due):
    assert determination_due(day_start_ms(received) + 10 * 3_600_000, CAL) == day_end_ms(due)


def test_overdue_only_while_open():
    received = day_start_ms("2026-05-26") + 3_600_000
    due = day_end_ms("2026-06-02")
    open_claim = ClaimState("GD-1", "swiftdash", "INC-1", "UNDER_REVIEW", None, None, received)
    assert not determination_overdue(open_claim, due - 1, CAL)
    assert determination_overdue(open_claim, due, CAL)
    determined = ClaimState("GD-1", "swiftdash", "INC-1", "DETERMINED", "ACCEPTED", None, received)
    assert not determination_overdue(determined, due + 10**9, CAL)


@pytest.mark.parametrize(("text", "message"), [
    ('format: 1\nyears:\n  "2026":\n    holidays: [{from: "2026-01-03", to: "2026-01-01"}]\n', "not in order"),
    ('format: 1\nyears:\n  "2026":\n    holidays: []\n    adjusted_workdays: ["2026-01-05"]\n', "weekend day"),
    ('format: 1\nyears:\n  "2026":\n    holidays: [{from: "2026-01-03", to: "2026-01-04"}]\n'
     '    adjusted_workdays: ["2026-01-04"]\n', "both holiday and working day"),
])
def test_calendar_errors(text, message):
    with pytest.raises(CalendarError, match=message):
        parse_calendar(text)
