"""The demo insurer's schedule (gigbridge.simulator.claims_demo): every claim it plays is a legal
life the hub routes, stamped when sent; the overdue share stays open past its deadline."""

from __future__ import annotations

from gigbridge.simulator.claims_demo import ClaimSchedule
from streams.core.cover.claim_flow import state_from_plain, state_to_plain
from streams.core.cover.claims import apply_claim_status, determination_overdue
from streams.loaders.cover import load_calendar

CAL = load_calendar()
NOW = 1_780_000_000_000


def incident(i: int) -> dict:
    return {"platform_id": "swiftmeal", "incident_id": f"INC-{i}", "division_code": "440103000000",
            "reported_at": NOW - 60_000}


def play(overdue_share: float, n: int = 40) -> tuple[dict, list[list]]:
    schedule = ClaimSchedule(CAL, seed=3, step_s=10, overdue_share=overdue_share)
    for i in range(n):
        schedule.add(incident(i), NOW)
    states, sent_times = {}, []
    for t in range(0, 60_001, 5_000):
        for update in schedule.due(NOW + t):
            assert update["occurred_at"] <= NOW + t  # never from the future
            outcome = apply_claim_status(state_from_plain(states.get(update["claim_ref"])), update)
            assert outcome.kind == "routed", (outcome, update)
            states[update["claim_ref"]] = state_to_plain(outcome.state)
            sent_times.append(t)
    assert len(schedule) == 0
    return states, sent_times


def test_every_claim_is_a_legal_life_spread_over_steps():
    states, times = play(overdue_share=0.0)
    assert len(states) == 40
    assert {s["status"] for s in states.values()} <= {"PAID", "DETERMINED"}
    assert min(times) >= 10_000 and max(times) > min(times)  # spread out, not all at once


def test_the_overdue_share_stays_received_and_overdue():
    states, _ = play(overdue_share=1.0, n=5)
    assert [s["status"] for s in states.values()] == ["RECEIVED"] * 5
    assert all(determination_overdue(state_from_plain(s), NOW + 60_000, CAL) for s in states.values())
