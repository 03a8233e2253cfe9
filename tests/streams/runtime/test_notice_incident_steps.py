"""Incidents during warnings over plain tables (no broker): linking by area and window, latest
headcounts as the denominator, the before/after-measure split and small cells suppressed."""

from __future__ import annotations

import uuid

from schemas.examples import load_examples
from streams.core.notices.tracking import HOUR_MS
from streams.runtime.notices.incident_steps import IncidentSteps
from streams.runtime.notices.state import LoggedTables
from tests.streams.runtime.test_notice_steps import CATALOG, NOTICE, NOW, SOURCE, measure, setup, wire

NANSHAN, BAOAN = "440305000000", "440306000000"


def example(contract: str, name: str, **changes) -> bytes:
    [ex] = [e for e in load_examples(contract=contract) if e.name == name]
    return wire(contract, {**ex.payload, "event_id": str(uuid.uuid4()), **changes})


def incident(division: str, at: int, platform: str = "alpha") -> bytes:
    return example("incident_report", "traffic_accident_in_rain", platform_id=platform, division_code=division,
                   occurred_at=at, reported_at=at, incident_id=str(uuid.uuid4()))


def headcount(active: int, at: int, platform: str = "alpha") -> bytes:
    return example("headcount_report", "monthly_delivery_station", platform_id=platform, site_id=f"s-{platform}",
                   division_code=NANSHAN, active_workers=active, occurred_at=at)


def flows():
    tables, steps = setup()
    extra = LoggedTables("hub-notices-state-changelog", "notice_windows", "active_workers", "linked_incidents")
    incidents = IncidentSteps(CATALOG, tables["notice_areas"], tables["tracks"], extra["notice_windows"],
                              extra["active_workers"], extra["linked_incidents"])
    return steps, incidents, extra


def test_an_incident_is_not_decoded_before_any_warning():
    _, incidents, extra = flows()
    incidents.on_incident(b"not avro at all")  # would raise if decoded
    assert len(extra["linked_incidents"]) == 0


def test_rates_before_and_after_the_first_measure_with_small_cells_suppressed():
    steps, incidents, extra = flows()
    notice = wire("weather_notice", NOTICE)
    incidents.on_notice(notice)
    steps.on_notice(notice, NOW)
    incidents.on_headcount(headcount(2000, NOW))
    incidents.on_headcount(headcount(999, NOW - HOUR_MS))  # older report read later: ignored
    steps.on_measure(measure("alpha", effective_from=NOW + 2 * HOUR_MS), SOURCE, "alpha", NOW + HOUR_MS)
    for minute in range(6):
        incidents.on_incident(incident(NANSHAN, NOW + minute * 60_000))
    incidents.on_incident(incident(BAOAN, NOW + 60_000))  # outside the area
    incidents.on_incident(incident(NANSHAN, NOW - 60_000))  # before the onset
    incidents.on_incident(incident(NANSHAN, NOW + 11 * HOUR_MS))  # after it expired
    for minute in range(3):
        incidents.on_incident(incident(NANSHAN, NOW + 3 * HOUR_MS + minute * 60_000))
    assert len(extra["linked_incidents"]) == 9
    rates = incidents.rates()
    assert rates["before_measure"] == {"injuries": 6, "active_workers": 2000, "per_10000": 30.0}
    assert rates["after_measure"] == {"injuries": None, "active_workers": 2000, "per_10000": None}  # 3 < k
    changes = {d.key.decode().split("|", 1)[0] for d in extra.changes()}
    assert changes == {"notice_windows", "active_workers", "linked_incidents"}  # logged, so restored on restart
