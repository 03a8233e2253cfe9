"""The notice flows' decisions over plain dict tables (no broker): concerned platforms from open
sites, answers, refusals, overdue once, rule changes routed or refused, and the state log."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace

from gigbridge.divisions import default_table
from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from streams.core.classify import Source
from streams.core.notices.rule_changes import PUBLIC_REGISTER_TOPIC, REGULATOR_TOPIC
from streams.core.notices.tracking import HOUR_MS, TrackingRules
from streams.runtime.notices.state import LoggedTables
from streams.runtime.notices.steps import NoticeSteps

CATALOG = default_catalog()
NOW = 1_780_214_400_000  # 2026-05-31, the examples' time
SOURCE = Source("platform.x.measures", 0, 7)


def wire(contract: str, record: dict) -> bytes:
    return encode(CATALOG.contract(contract).latest, record)


def records(deliveries, contract):
    return [decode(CATALOG, d.value, expect_contract=contract).record for d in deliveries]


def setup():
    tables = LoggedTables("hub-notices-state-changelog", *TABLES)
    steps = NoticeSteps(CATALOG, default_table().exists, tables["open_sites"], tables["notice_areas"],
                        tables["tracks"], tracking_rules=TrackingRules(overdue_after_ms=2 * HOUR_MS),
                        live_notices=tables["live_notices"])
    for platform, county, action in [("alpha", "440305000000", "OPENED"), ("beta", "440304000000", "OPENED"),
                                     ("gamma", "110105000000", "OPENED"), ("delta", "440305000000", "OPENED"),
                                     ("delta", "440305000000", "CLOSED")]:
        steps.on_site(site(platform, county, action), NOW)
    return tables, steps


TABLES = ("open_sites", "notice_areas", "tracks", "live_notices")


def site(platform: str, county: str, action: str = "OPENED", at: int = NOW) -> bytes:
    return wire("site_event", {
        "event_id": str(uuid.uuid4()), "platform_id": platform, "occurred_at": at, "site_id": f"s-{platform}",
        "action": action, "site_type": "DELIVERY_STATION", "division_code": county, "location": None,
        "facilities": [], "capacity_workers": 10})


NOTICE = {"notice_id": "n-1", "cap_identifier": "n-1", "cap_sender": "cma", "revision": 0, "msg_type": "ALERT",
          "warning_type": "HEAT", "level": "ORANGE", "headline": "高温橙色预警", "province": "44",
          "division_codes": ["440304000000", "440305000000"], "onset": NOW, "expires": NOW + 10 * HOUR_MS,
          "sent": NOW, "references": []}


def measure(platform: str, **changes) -> bytes:
    return wire("protection_measure", {
        "event_id": str(uuid.uuid4()), "platform_id": platform, "occurred_at": NOW + HOUR_MS, "notice_id": "n-1",
        "measure": "HAZARD_ALLOWANCE", "division_codes": ["440305000000"], "effective_from": NOW + HOUR_MS,
        "effective_to": NOW + 5 * HOUR_MS, "description": None, **changes})


def test_notice_tracks_platforms_with_open_sites_in_its_area_only():
    _, steps = setup()
    statuses = records(steps.on_notice(wire("weather_notice", NOTICE), NOW), "notice_status")
    assert [(s["platform_id"], s["state"]) for s in statuses] == [("alpha", "AWAITING"), ("beta", "AWAITING")]
    assert steps.on_notice(wire("weather_notice", NOTICE), NOW) == []  # the same record again: no change


def test_a_site_read_after_a_live_notice_tracks_its_platform_then():
    """Sites and warnings come on different topics, read in no fixed order (issue #17: the demo's
    sites were validated after its warning was read, and no platform was ever tracked)."""
    _, steps = setup()
    steps.on_notice(wire("weather_notice", NOTICE), NOW)
    [status] = records(steps.on_site(site("late", "440305000000"), NOW + HOUR_MS), "notice_status")
    assert (status["platform_id"], status["state"], status["level"], status["notified_at"]) == (
        "late", "AWAITING", "ORANGE", NOW + HOUR_MS)
    assert steps.on_site(site("late", "440305000000"), NOW + HOUR_MS) == []  # tracked once
    assert steps.on_site(site("elsewhere", "110105000000"), NOW + HOUR_MS) == []  # outside the area
    [answered] = records(steps.on_measure(measure("late"), SOURCE, "late", NOW + 2 * HOUR_MS), "notice_status")
    assert answered["state"] == "ANSWERED"
    assert steps.on_site(site("expired", "440305000000", at=NOW + 10 * HOUR_MS), NOW + 10 * HOUR_MS) == []
    [opened_before_expiry] = steps.on_site(site("replayed", "440305000000"), NOW + 11 * HOUR_MS)  # read late
    assert records([opened_before_expiry], "notice_status")[0]["platform_id"] == "replayed"
    steps.on_notice(wire("weather_notice", dict(NOTICE, msg_type="CANCEL", expires=NOW + 2 * HOUR_MS)), NOW + 2 * HOUR_MS)
    assert steps.on_site(site("after-cancel", "440305000000", at=NOW + 3 * HOUR_MS), NOW + 3 * HOUR_MS) == []


def test_measure_answers_its_track_and_a_stray_one_is_refused():
    _, steps = setup()
    steps.on_notice(wire("weather_notice", NOTICE), NOW)
    [answered] = records(steps.on_measure(measure("alpha"), SOURCE, "alpha", NOW + HOUR_MS), "notice_status")
    assert (answered["state"], answered["response_ms"]) == ("ANSWERED", HOUR_MS)
    [refused] = steps.on_measure(measure("alpha", notice_id="n-404"), SOURCE, "alpha", NOW + HOUR_MS)
    assert refused.topic == "platform.alpha.rejected"
    rejection = records([refused], "rejection_record")[0]
    assert (rejection["reason"], rejection["source_offset"]) == ("unknown_notice", 7)
    [garbage] = steps.on_measure(b"\x00\x00", SOURCE, "alpha", NOW)
    assert records([garbage], "rejection_record")[0]["reason"] == "truncated"


def test_overdue_is_announced_once_and_counted():
    _, steps = setup()
    steps.on_notice(wire("weather_notice", NOTICE), NOW)
    steps.on_measure(measure("alpha"), SOURCE, "alpha", NOW + HOUR_MS)
    assert steps.overdue_tick(NOW + HOUR_MS)[0] == []
    deliveries, overdue, states = steps.overdue_tick(NOW + 3 * HOUR_MS)
    assert [(s["platform_id"], s["state"]) for s in records(deliveries, "notice_status")] == [("beta", "OVERDUE")]
    assert overdue == {("44", "ORANGE"): 1} and states == {"ANSWERED": 1, "OVERDUE": 1}
    assert steps.overdue_tick(NOW + 4 * HOUR_MS)[0] == []


def test_rule_changes_are_routed_or_refused():
    _, steps = setup()
    change = {"event_id": str(uuid.uuid4()), "platform_id": "alpha", "occurred_at": NOW, "change_id": "PEN-1",
              "rule_area": "PENALTY", "industries": ["INSTANT_DELIVERY"], "division_codes": ["440300000000"],
              "summary": "超时投诉核实天气后再计入考核。", "published_at": NOW, "effective_at": NOW + 8 * 24 * HOUR_MS,
              "consultation": None}
    [refused] = steps.on_rule_change(wire("algorithm_rule_change", change), SOURCE, "alpha", NOW)
    assert records([refused], "rejection_record")[0]["reason"] == "consultation_missing"
    consulted = dict(change, consultation={"parties": ["TRADE_UNION"], "consulted_at": NOW - HOUR_MS,
                                           "comments_received": 3, "response": "已逐条答复。"})
    routed = steps.on_rule_change(wire("algorithm_rule_change", consulted), SOURCE, "alpha", NOW)
    assert [d.topic for d in routed] == [REGULATOR_TOPIC, PUBLIC_REGISTER_TOPIC]
    assert records(routed, "algorithm_rule_change")[0]["change_id"] == "PEN-1"


def test_state_log_restores_the_same_tables():
    tables, steps = setup()
    steps.on_notice(wire("weather_notice", NOTICE), NOW)
    log = tables.changes()
    assert tables.changes() == []  # each change is logged once
    assert json.loads(next(d.value for d in log if d.key == b"open_sites|delta|s-delta")) is None
    restored = LoggedTables(tables.topic, *TABLES)
    restored.restore([SimpleNamespace(key=d.key, value=d.value) for d in log])
    for name in TABLES:
        assert restored[name].data == tables[name].data
    assert restored.changes() == []
