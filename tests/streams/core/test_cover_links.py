"""Incidents carry the link to the cover they match: an IncidentCoverLink record per matched
incident event, to the insurer and the platform, exactly once (a replay emits nothing)."""

from __future__ import annotations

from schemas.catalog import default_catalog
from schemas.wire import encode
from streams.core.cover.daycover import apply_order, close_due
from streams.core.cover.gaps import check_incident
from streams.core.cover.links import link_emits
from streams.core.cover.state import CoverState, from_plain, to_plain
from tests.streams.core.test_cover_gaps import DAY, DEADLINE, NOON, ORDER, covered_state, incident, ref


def links_of(state, emits, now_ms):
    return [e for e in link_emits(state, emits, now_ms) if getattr(e, "contract", None) == "incident_cover_link"]


def test_a_match_on_the_order_gives_one_link_record_for_insurer_and_platform():
    state, emits = check_incident(covered_state(), incident(), NOON)
    [link] = links_of(state, emits, NOON)
    assert link.topics == ("gov.insurance.31.cover-links", "platform.swiftdash.cover-links")
    assert link.key == link.idempotency_key == "swiftdash:INC-1"
    assert link.record == {
        "incident_id": "INC-1", "incident_event_id": "inc-ev-1", "platform_id": "swiftdash", "province": "31",
        "worker_ref": ref("w1"), "service_date": DAY, "matched_by": "ORDER", "order_ref": ref("o1"),
        "cover_version": 1, "linked_at": NOON}  # the day is open: version 1 will include the order
    encode(default_catalog().contract("incident_cover_link").latest, link.record)  # a valid record
    # the same incident event again, also after a restart: nothing more
    assert check_incident(state, incident(), NOON + 1)[1] == []
    assert check_incident(from_plain(to_plain(state)), incident(), NOON + 1)[1] == []


def test_a_day_match_names_the_latest_emitted_version_of_the_worker_day():
    state, _ = close_due(covered_state(), DEADLINE)  # version 1 emitted
    state, _ = apply_order(state, {**ORDER, "event_id": "ev-2", "order_ref": ref("o2")}, DEADLINE)  # version 2
    state, emits = check_incident(state, incident(order_ref=None), DEADLINE + 1)
    [link] = links_of(state, emits, DEADLINE + 1)
    assert (link.record["matched_by"], link.record["order_ref"], link.record["cover_version"]) == ("DAY", None, 2)


def test_an_incident_before_its_order_is_linked_once_at_the_close():
    state, emits = check_incident(CoverState(), incident(), NOON)
    assert links_of(state, emits, NOON) == []
    state, _ = apply_order(state, ORDER, NOON + 60_000)
    state, emits = close_due(state, DEADLINE)
    contracts = [e.contract for e in link_emits(state, emits, DEADLINE)]
    assert contracts.count("incident_cover_link") == 1 and "cover_gap" not in contracts
    assert links_of(state, close_due(state, DEADLINE + 1)[1], DEADLINE + 1) == []
