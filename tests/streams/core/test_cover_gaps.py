"""Every order insured, checked: links for covered incidents, CoverGap records for the rest once
the grace has passed, incidents that arrive before their order."""

from __future__ import annotations

import hashlib

from schemas.catalog import default_catalog
from schemas.wire import encode
from streams.core.cover.cst import day_end_ms, day_start_ms
from streams.core.cover.daycover import DEFAULT_GRACE_MS, apply_order, close_due, prune
from streams.core.cover.emits import Emit
from streams.core.cover.gaps import CoverLink, check_incident
from streams.core.cover.state import CoverState, DayKey, from_plain, to_plain

DAY = "2026-05-30"
DEADLINE = day_end_ms(DAY) + DEFAULT_GRACE_MS
NOON = day_start_ms(DAY) + 12 * 3_600_000


def ref(text):
    return hashlib.sha256(text.encode()).hexdigest()


ORDER = {"event_id": "ev-1", "platform_id": "swiftdash", "order_ref": ref("o1"), "worker_ref": ref("w1"),
         "division_code": "310101002000", "accepted_at": NOON - 600_000, "premium_fen": 4}


def incident(**kw):
    base = {"event_id": "inc-ev-1", "platform_id": "swiftdash", "incident_id": "INC-1", "worker_ref": ref("w1"),
            "order_ref": ref("o1"), "division_code": "310101002000", "occurred_at": NOON, "insured": True}
    return {**base, **kw}


def covered_state():
    return apply_order(CoverState(), ORDER, NOON)[0]


def test_incident_on_a_covered_order_gets_a_link():
    state, emits = check_incident(covered_state(), incident(), NOON)
    assert emits == [CoverLink("inc-ev-1", "INC-1", DayKey("swiftdash", "31", ref("w1"), DAY), ref("o1"))]
    assert state.pending_incidents == {}


def test_incident_without_order_matches_the_worker_day_in_that_province():
    state, emits = check_incident(covered_state(), incident(order_ref=None), NOON)
    assert isinstance(emits[0], CoverLink) and emits[0].order_ref is None
    # the same worker in another province that day has no cover there
    state, emits = check_incident(covered_state(), incident(order_ref=None, division_code="440305000000"), DEADLINE)
    assert [e.record["gap"] for e in emits] == ["NO_DAY_COVER"]


def test_incident_before_its_order_waits_and_is_linked_when_the_order_arrives():
    state, emits = check_incident(CoverState(), incident(), NOON)
    assert emits == [] and "inc-ev-1" in state.pending_incidents
    state = from_plain(to_plain(state))  # pending incidents survive a restart
    state, _ = apply_order(state, ORDER, NOON + 3_600_000)
    state, emits = close_due(state, NOON + 3_600_000)
    assert [type(e) for e in emits] == [CoverLink] and state.pending_incidents == {}


def test_no_cover_by_the_deadline_is_a_gap_for_insurer_and_platform():
    state, emits = check_incident(CoverState(), incident(), NOON)
    state, emits = close_due(state, DEADLINE - 1)
    assert emits == []
    state, emits = close_due(state, DEADLINE)
    [gap] = emits
    assert isinstance(gap, Emit) and gap.contract == "cover_gap"
    assert gap.topics == ("gov.insurance.31.cover-gaps", "platform.swiftdash.cover-gaps")
    assert (gap.record["gap"], gap.record["service_date"], gap.record["detected_at"]) == ("ORDER_NOT_COVERED", DAY, DEADLINE)
    encode(default_catalog().contract("cover_gap").latest, gap.record)  # a valid CoverGap
    assert state.pending_incidents == {}


def test_order_of_another_worker_is_a_gap():
    _, emits = check_incident(covered_state(), incident(worker_ref=ref("w2")), DEADLINE)
    assert [e.record["gap"] for e in emits] == ["ORDER_OF_ANOTHER_WORKER"]


def test_uninsured_and_repeated_incidents_are_not_checked_twice():
    assert check_incident(CoverState(), incident(insured=False), DEADLINE)[1] == []
    state, _ = check_incident(CoverState(), incident(), NOON)
    state, emits = check_incident(state, incident(), NOON)  # the same incident event again
    assert emits == [] and len(state.pending_incidents) == 1


def test_a_replayed_incident_is_decided_once():
    state, emits = check_incident(CoverState(), incident(), DEADLINE)
    assert [e.contract for e in emits] == ["cover_gap"]
    assert emits[0].idempotency_key == "swiftdash:INC-1"
    state = from_plain(to_plain(state))
    assert check_incident(state, incident(), DEADLINE + 1)[1] == []  # no second gap after a restart
    state, emits = check_incident(covered_state(), incident(event_id="inc-ev-2"), NOON)
    assert isinstance(emits[0], CoverLink) and check_incident(state, incident(event_id="inc-ev-2"), NOON)[1] == []


def test_prune_forgets_old_decisions_only():
    state, _ = check_incident(CoverState(), incident(), DEADLINE)
    state, _ = check_incident(state, incident(event_id="inc-ev-9", occurred_at=NOON + 86_400_000), DEADLINE + 86_400_000)
    state = prune(state, day_end_ms("2026-05-31") + 60_000, keep_ms=86_400_000)
    assert list(state.decided_incidents) == ["inc-ev-9"]
