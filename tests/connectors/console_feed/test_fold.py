"""The console read model's folds, through the feed's decode step, with the contracts' own
examples (schemas/examples) written in the wire format: no Kafka."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from connectors.console_feed.feed import ConsoleFeed
from connectors.console_feed.fold import TOPIC_PATTERN, Bounds, ConsoleView, Folder, contract_of_topic
from connectors.console_feed.queries import ViewConsoleData
from gigbridge.divisions import default_table
from schemas.catalog import default_catalog
from schemas.wire import encode

EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"
CATALOG = default_catalog()
HEAT = "44000041600000-20260531T100000-HEAT"
NOW = 1780225200000


def example(contract: str, name: str, **changes) -> dict:
    return {**json.loads((EXAMPLES / contract / "v1" / "valid" / f"{name}.json").read_text()), **changes}


def wire(contract: str, record: dict) -> bytes:
    return encode(CATALOG.contract(contract).latest, record)


def new_feed(bounds: Bounds = Bounds()) -> tuple[ConsoleFeed, ViewConsoleData]:
    view = ConsoleView()
    feed = ConsoleFeed(Folder(view, bounds), CATALOG, new_consumer=lambda: None, clock=lambda: NOW / 1000)
    return feed, ViewConsoleData(view, feed.status, default_table().exists)


def run(coro):
    return asyncio.run(coro)


def test_every_followed_topic_has_its_contract_and_matches_the_subscription_pattern():
    import re
    followed = {"gov.office.310101.sites": "site_event", "gov.office.310101002.headcounts": "headcount_report",
                "gov.office.440305.incidents": "incident_report", "platform.swiftmeal.incident-acks": "incident_ack",
                "platform.swiftmeal.measures": "protection_measure", "gov.notices.44": "weather_notice",
                "gov.notices.44.status": "notice_status", "hub.cases.state": "case_state",
                "hub.validated.case-events": "case_event"}
    for topic, contract in followed.items():
        assert contract_of_topic(topic) == contract and re.fullmatch(TOPIC_PATTERN, topic)
    for other in ("platform.swiftmeal.incidents", "gov.office.310101.receipts", "hub.validated.incidents",
                  "gov.units.110105-hrss.case-updates", "gov.insurance.44.incidents"):
        assert contract_of_topic(other) is None and not re.fullmatch(TOPIC_PATTERN, other)


def test_sites_keep_their_last_event_and_headcounts_one_row_per_period():
    feed, data = new_feed(Bounds(headcount_history=2))
    opened = example("site_event", "opened_delivery_station")
    topic = f"gov.office.{opened['division_code'][:6]}.sites"
    feed.fold(topic, b"k", wire("site_event", opened), NOW)
    feed.fold(topic, b"k", wire("site_event", opened), NOW)  # a repeat changes nothing
    [site] = run(data.sites([opened["division_code"][:6]]))
    assert site.open and site.facilities == tuple(opened["facilities"])
    assert run(data.sites(["650102"])) == []  # another county sees nothing
    closed = {**opened, "action": "CLOSED", "occurred_at": opened["occurred_at"] + 1}
    feed.fold(topic, b"k", wire("site_event", closed), NOW)
    [site] = run(data.sites([opened["division_code"][:6]]))
    assert not site.open and site.updated_at == closed["occurred_at"]

    report = example("headcount_report", "monthly_delivery_station")
    htopic = f"gov.office.{report['division_code'][:6]}.headcounts"
    day = 86_400_000
    for shift, active in ((0, 10), (day, 20), (0, 11), (2 * day, 30)):  # the 3rd re-sends the 1st period
        feed.fold(htopic, b"k", wire("headcount_report", {
            **report, "period_start": report["period_start"] + shift, "period_end": report["period_end"] + shift,
            "active_workers": active, "employed_workers": active, "non_standard_workers": 0,
            "independent_workers": 0, "insured_workers": 0, "new_workers": 0, "departed_workers": 0,
            "long_hours_workers": 0}), NOW)
    rows = run(data.headcounts([report["division_code"][:6]]))
    assert [r.active_workers for r in rows] == [20, 30]  # 2 kept, oldest period first


def test_incidents_carry_the_office_pseudonyms_and_their_acknowledgements_and_stay_bounded():
    feed, data = new_feed(Bounds(max_incidents=2))
    incident = example("incident_report", "dog_bite_at_handover")
    topic = f"gov.office.{incident['division_code'][:6]}.incidents"
    for n in range(3):
        feed.fold(topic, b"s", wire("incident_report", {**incident, "incident_id": f"I-{n}"}), NOW)
    rows = run(data.incidents([incident["division_code"][:6]]))
    assert [r.incident_id for r in rows] == ["I-1", "I-2"]  # the first received left
    assert rows[0].worker_ref == incident["worker_ref"]  # as the office topic carries it

    ack = example("incident_ack", "received_defaults", platform_id=incident["platform_id"], incident_id="I-2")
    acks = f"platform.{incident['platform_id']}.incident-acks"
    feed.fold(acks, b"a", wire("incident_ack", ack), NOW)
    feed.fold(acks, b"a", wire("incident_ack", ack), NOW)  # replayed: no-op
    visited = {**ack, "event_id": "8b9c0d1e-2f3a-4b4c-8d5e-6f7a8b9c0d1e", "action": "VISITED"}
    feed.fold(acks, b"a", wire("incident_ack", visited), NOW)
    row = run(data.incident(incident["platform_id"], "I-2"))
    assert row.acks.steps == ("RECEIVED", "VISITED") and row.acks.unit_id == ack["unit_id"]
    assert run(data.incident(incident["platform_id"], "I-0")) is None


def test_cases_keep_the_highest_version_and_show_only_applied_steps():
    feed, data = new_feed()
    state = example("case_state", "transferred_after_acceptance")
    key = state["case_id"].encode()
    feed.fold("hub.cases.state", key, wire("case_state", state), NOW)
    feed.fold("hub.cases.state", key, wire("case_state", {**state, "version": 1, "status": "OPEN"}), NOW)
    assert run(data.case(state["case_id"])).version == state["version"]  # an older version does not win
    assert [c.case_id for c in run(data.cases("110105-amr"))] == [state["case_id"]]
    assert run(data.cases("440305-hrss")) == []

    applied, refused = state["applied_event_ids"][0], "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
    step = example("case_event", "accepted_defaults", case_id=state["case_id"])
    for event_id, at in ((refused, 2), (applied, 1)):
        feed.fold("hub.validated.case-events", key, wire("case_event", {**step, "event_id": event_id, "at": at}), NOW)
    assert [s.event_id for s in run(data.case_history(state["case_id"]))] == [applied]
    feed.fold("hub.cases.state", key, None, NOW)  # a tombstone
    assert run(data.case(state["case_id"])) is None and run(data.case_history(state["case_id"])) == []


def test_warnings_show_answers_with_the_measures_the_hub_accepts_until_cancelled():
    feed, data = new_feed()
    notice = example("weather_notice", "heat_orange_shenzhen", expires=None)
    assert notice["notice_id"] == HEAT
    status = example("notice_status", "answered_within_an_hour")
    measure = example("protection_measure", "hazard_allowance_whole_area", platform_id=status["platform_id"],
                      notice_id=HEAT, division_codes=notice["division_codes"], occurred_at=NOW - 1000)
    mtopic = f"platform.{status['platform_id']}.measures"
    # on a start the measures topic may be read before the notice: the measure still shows
    feed.fold(mtopic, b"m", wire("protection_measure", measure), NOW)
    feed.fold(mtopic, b"m", wire("protection_measure", {**measure, "event_id": "0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a",
                                                        "platform_id": "someone-else"}), NOW)  # refused: platform_mismatch
    feed.fold(mtopic, b"m", wire("protection_measure", {**measure, "event_id": "1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b",
                                                        "division_codes": ["110105000000"]}), NOW)  # outside the area
    feed.fold("gov.notices.44", HEAT.encode(), wire("weather_notice", notice), NOW)
    feed.fold("gov.notices.44.status", b"s", wire("notice_status", {**status, "state": "AWAITING",
                                                                   "answered_at": None, "response_ms": None,
                                                                   "computed_at": status["notified_at"]}), NOW)
    feed.fold("gov.notices.44.status", b"s", wire("notice_status", status), NOW)
    area = notice["division_codes"][0][:6]
    [warning] = run(data.warnings([area], NOW))
    [answer] = warning.answers
    assert (warning.level, answer.state, answer.measures) == ("ORANGE", "ANSWERED", (measure["measure"],))
    assert run(data.warnings(["110105"], NOW)) == []

    cancel = {**notice, "revision": 1, "msg_type": "CANCEL"}
    feed.fold("gov.notices.44", HEAT.encode(), wire("weather_notice", cancel), NOW)
    assert run(data.warnings([area], NOW)) == []


def test_a_record_that_does_not_decode_is_counted_and_left_out():
    feed, data = new_feed()
    feed.fold("gov.office.310101.sites", b"k", b"\x00\x00\x00\x00\x03garbage", NOW)
    feed.fold("gov.office.310101.sites", b"k", b"not avro", NOW)
    assert run(data.sites(["31"])) == []
    assert set(feed.skipped) == {("gov.office.310101.sites", "wrong_contract"),
                                 ("gov.office.310101.sites", "bad_magic_byte")}
