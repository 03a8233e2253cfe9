"""Concerned platforms, answers and overdue notices, incident linking and injury rates."""

from __future__ import annotations

import pytest

import streams.core.policy
from schemas.catalog import default_catalog
from schemas.wire import encode
from streams.core.notices import injuries
from streams.core.notices.injuries import NoticeWindow, injury_rates, link_incidents, window_of
from streams.core.notices.levels import within
from streams.core.notices.tracking import (
    HOUR_MS,
    TrackingRules,
    answer_state,
    concerned_platforms,
    overdue,
    record_answer,
    status_record,
    track_notice,
)

T0 = 1780192800000  # 2026-05-31T02:00Z
NANSHAN, FUTIAN, TIANHE = "440305000000", "440304000000", "440106000000"
SITES = [("swiftdash", "440305001000"), ("cityride", "440305002000"), ("parcelgo", "440304003000"),
         ("haulnet", "440106001000")]


def heat(level="ORANGE", msg_type="ALERT", divisions=(NANSHAN, FUTIAN)):
    return {"notice_id": "N-HEAT", "cap_identifier": "N-HEAT", "cap_sender": "gd@cma.example", "revision": 0,
            "msg_type": msg_type, "warning_type": "HEAT", "level": level, "headline": "高温预警", "province": "44",
            "division_codes": list(divisions), "onset": T0, "expires": T0 + 10 * HOUR_MS, "sent": T0, "references": []}


def measure(platform, at, event_id="m-1"):
    return {"event_id": event_id, "platform_id": platform, "occurred_at": at, "notice_id": "N-HEAT",
            "effective_from": at + 60_000}


@pytest.mark.parametrize(("code", "area", "inside"), [
    ("440305001000", NANSHAN, True), ("440305000000", NANSHAN, True), ("440304003000", NANSHAN, False),
    ("440305001000", "440300000000", True), ("440305001000", "440000000000", True), ("330106002000", "440000000000", False),
])
def test_within(code, area, inside):
    assert within(code, area) is inside


def test_platforms_with_open_sites_in_the_area_are_concerned():
    assert concerned_platforms([NANSHAN, FUTIAN], SITES) == ("cityride", "parcelgo", "swiftdash")
    assert concerned_platforms([TIANHE], SITES) == ("haulnet",)
    assert concerned_platforms(["330106000000"], SITES) == ()


def test_answered_awaiting_overdue():
    tracks = track_notice({}, heat(), SITES, T0)
    tracks = record_answer(tracks, measure("swiftdash", T0 + HOUR_MS // 2))
    tracks = record_answer(tracks, measure("swiftdash", T0 + HOUR_MS, "m-2"))  # only the first answer counts
    tracks = record_answer(tracks, measure("haulnet", T0 + HOUR_MS))  # not concerned: ignored
    assert tracks[("N-HEAT", "swiftdash")].measure_from == T0 + HOUR_MS // 2 + 60_000  # the first measure's
    at = T0 + 2 * HOUR_MS
    assert {k[1]: answer_state(t, at) for k, t in tracks.items()} == {
        "swiftdash": "ANSWERED", "cityride": "AWAITING", "parcelgo": "AWAITING"}
    later = at + 1
    assert [t.platform_id for t in overdue(tracks, later)] == ["cityride", "parcelgo"]
    swift = status_record(tracks[("N-HEAT", "swiftdash")], later)
    assert (swift["state"], swift["response_ms"], swift["answered_at"]) == ("ANSWERED", HOUR_MS // 2, T0 + HOUR_MS // 2)
    contract = default_catalog().contract("notice_status").latest
    for t in tracks.values():
        encode(contract, status_record(t, later))


def test_yellow_has_no_deadline_until_it_is_upgraded():
    tracks = track_notice({}, heat(level="YELLOW"), SITES, T0)
    assert overdue(tracks, T0 + 24 * HOUR_MS) == []
    upgraded = T0 + 5 * HOUR_MS
    tracks = track_notice(tracks, heat(level="RED", msg_type="UPDATE"), SITES, upgraded)
    t = tracks[("N-HEAT", "cityride")]
    assert (t.notified_at, t.deadline_from, t.level) == (T0, upgraded, "RED")
    assert answer_state(t, upgraded + 2 * HOUR_MS) == "AWAITING"
    assert answer_state(t, upgraded + 2 * HOUR_MS + 1) == "OVERDUE"
    assert answer_state(t, upgraded + HOUR_MS + 1, TrackingRules(overdue_after_ms=HOUR_MS)) == "OVERDUE"


def test_a_cancel_closes_open_tracks_only():
    tracks = track_notice({}, heat(), SITES, T0)
    tracks = record_answer(tracks, measure("swiftdash", T0 + 60_000))
    tracks = track_notice(tracks, heat(msg_type="CANCEL"), SITES, T0 + HOUR_MS)
    states = {k[1]: answer_state(t, T0 + 9 * HOUR_MS) for k, t in tracks.items()}
    assert states == {"swiftdash": "ANSWERED", "cityride": "CANCELLED", "parcelgo": "CANCELLED"}


def test_incidents_link_to_notices_by_area_and_window():
    w = window_of([heat()])
    open_ended = NoticeWindow("N-FOG", (TIANHE,), T0, None)
    incidents = [
        {"event_id": "in-area", "division_code": "440305001000", "occurred_at": T0 + HOUR_MS},
        {"event_id": "before-onset", "division_code": "440305001000", "occurred_at": T0 - 1},
        {"event_id": "at-expiry", "division_code": "440305001000", "occurred_at": T0 + 10 * HOUR_MS},
        {"event_id": "elsewhere", "division_code": "330106002000", "occurred_at": T0 + HOUR_MS},
        {"event_id": "open-ended", "division_code": "440106001000", "occurred_at": T0 + 100 * HOUR_MS},
    ]
    assert link_incidents(incidents, [w, open_ended]) == {"in-area": ("N-HEAT",), "open-ended": ("N-FOG",)}


def test_injury_rates_before_and_after_measures_with_small_cells_suppressed():
    assert injuries.suppress_small is streams.core.policy.suppress_small  # the monitoring policy's own function
    w = window_of([heat()])
    measured_from = T0 + 3 * HOUR_MS
    workers = {("swiftdash", "440305001000"): 6000, ("cityride", "440305002000"): 4000, ("haulnet", TIANHE): 900}

    def incident(i, platform, hours):
        return {"event_id": f"i{i}", "platform_id": platform, "division_code": "440305001000",
                "occurred_at": T0 + int(hours * HOUR_MS)}

    incidents = ([incident(i, "swiftdash", 1) for i in range(6)] + [incident(10 + i, "swiftdash", 4) for i in range(5)]
                 + [incident(20 + i, "cityride", 5) for i in range(2)])
    rates = injury_rates([w], incidents, {("N-HEAT", "swiftdash"): measured_from}, workers)
    # before: 6 swiftdash + 2 cityride (no measure) over 10,000 workers; after: 5 over swiftdash's 6,000
    assert rates == {"before_measure": {"injuries": 8, "active_workers": 10000, "per_10000": 8.0},
                     "after_measure": {"injuries": 5, "active_workers": 6000, "per_10000": 8.33}}
    few = injury_rates([w], incidents[:3], {}, workers)
    assert few["before_measure"] == {"injuries": None, "active_workers": 10000, "per_10000": None}
    assert few["after_measure"] == {"injuries": 0, "active_workers": 0, "per_10000": None}
