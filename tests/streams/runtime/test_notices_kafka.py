"""The worker's notice flows on the real broker: a CAP warning published through the intake
reaches the platforms with open sites in its area as NoticeStatus tracks; a platform's measure
answers its track; a platform that never answers an ORANGE warning becomes overdue (status and
metric); algorithm-rule changes are routed or refused with the reason code."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from gigbridge.divisions import default_table
from gigbridge.topics_admin import TopicAdmin
from schemas.catalog import default_catalog
from schemas.examples import load_examples
from schemas.wire import decode, encode
from streams.core.notices.rule_changes import PUBLIC_REGISTER_TOPIC, REGULATOR_TOPIC
from streams.core.topics import ingest_topic, rejected_topic, validated_topic
from streams.runtime.notices.kafka_edges import kafka_intake
from tests.support.kafka_io import HubProcess, hub_settings, onboard, producer, read_all, wait_for

pytestmark = pytest.mark.kafka

CATALOG = default_catalog()
CAP_DIR = Path(__file__).resolve().parents[2] / "data" / "cap"
RUN = uuid.uuid4().hex[:6]
ANSWERS, SILENT = f"ans{RUN}", f"sil{RUN}"
DAY_MS = 86_400_000
SHARED: dict = {}  # the first test's notice, for the restart test


def example(contract: str, name: str, **changes) -> dict:
    [ex] = [e for e in load_examples(contract=contract) if e.name == name]
    return {**ex.payload, "event_id": str(uuid.uuid4()),
            **changes}


def send(kafka, topic: str, contract: str, record: dict) -> None:
    producer(kafka).send(topic, key=b"k", value=encode(CATALOG.contract(contract).latest, record)).get(30)


def records(kafka, topic: str, contract: str) -> list[dict]:
    return [decode(CATALOG, r.value, expect_contract=contract).record for r in read_all(kafka, topic)]


def statuses(kafka, notice_id: str) -> list[dict]:
    return [s for s in records(kafka, "gov.notices.44.status", "notice_status") if s["notice_id"] == notice_id]


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    for platform in (ANSWERS, SILENT):
        onboard(kafka, platform)
    admin = TopicAdmin(hub_settings(kafka))
    try:  # what `gigbridge topics ensure --platform` creates for the notice flows
        admin.ensure([f"platform.{p}.{t}" for p in (ANSWERS, SILENT) for t in ("measures", "algorithm-changes")]
                     + [validated_topic("sites"), "gov.notices.44"])
    finally:
        admin.close()
    hub = HubProcess(kafka, ["worker"], tmp_path_factory.mktemp("notices-worker"),
                     {"GIGBRIDGE_APP_ID": f"hub-notices-{RUN}", "GIGBRIDGE_TOPIC_DISCOVERY_INTERVAL_S": "2",
                      "GIGBRIDGE_NOTICE_OVERDUE_AFTER_S": "4", "GIGBRIDGE_NOTICE_CHECK_INTERVAL_S": "1"}).start()
    wait_for(lambda: hub.metric("gigbridge_subscribed_ingest_topics") >= 6, 90, "worker subscribed")
    yield hub
    assert hub.stop() == 0, hub.log_tail()


def test_warning_tracks_concerned_platforms_answers_and_overdue(kafka, worker):
    now = int(time.time() * 1000)
    for platform in (ANSWERS, SILENT):
        site = example("site_event", "opened_delivery_station", platform_id=platform, occurred_at=now,
                       site_id=f"site-{platform}", division_code="440305000000")
        send(kafka, ingest_topic(platform, "sites"), "site_event", site)
    wait_for(lambda: worker.metric("gigbridge_notice_open_sites") >= 2, 60, "open sites known")

    cap = (CAP_DIR / "heat_orange_shenzhen.xml").read_bytes().replace(b"0041600000-", f"00416{RUN}-".encode())
    intake = kafka_intake(hub_settings(kafka), default_table().exists)
    result = asyncio.run(intake.submit(cap))
    assert result.problem is None and result.records
    notice_id = SHARED["notice_id"] = result.records[0]["notice_id"]

    awaiting = wait_for(lambda: {s["platform_id"] for s in statuses(kafka, notice_id)} >= {ANSWERS, SILENT} or None,
                        60, "both platforms tracked")
    assert awaiting
    measure = example("protection_measure", "suspend_dispatch_nanshan", platform_id=ANSWERS, notice_id=notice_id,
                      occurred_at=int(time.time() * 1000), division_codes=["440305000000"])
    send(kafka, f"platform.{ANSWERS}.measures", "protection_measure", measure)

    def final_states():
        latest = {}
        for s in statuses(kafka, notice_id):
            latest[s["platform_id"]] = s
        return latest if {latest.get(ANSWERS, {}).get("state"), latest.get(SILENT, {}).get("state")} == {
            "ANSWERED", "OVERDUE"} else None

    latest = wait_for(final_states, 60, "one answered, one overdue")
    assert latest[ANSWERS]["state"] == "ANSWERED" and latest[ANSWERS]["response_ms"] >= 0
    assert latest[SILENT]["state"] == "OVERDUE" and latest[SILENT]["level"] == "ORANGE"
    wait_for(lambda: worker.metric("gigbridge_notices_overdue", province="44", level="ORANGE") >= 1, 30,
             "overdue metric")

    # a measure for a notice nobody issued is refused back to the platform
    stray = dict(measure, event_id=str(uuid.uuid4()), notice_id="no-such-notice")
    send(kafka, f"platform.{ANSWERS}.measures", "protection_measure", stray)
    wait_for(lambda: [r for r in records(kafka, rejected_topic(ANSWERS), "rejection_record")
                      if r["event_id"] == stray["event_id"] and r["reason"] == "unknown_notice"], 60, "stray refused")


def test_rule_changes_routed_or_refused_with_the_reason(kafka, worker):
    now = int(time.time() * 1000)
    times = {"occurred_at": now, "published_at": now, "effective_at": now + 8 * DAY_MS, "platform_id": ANSWERS}
    accepted = example("algorithm_rule_change", "pay_distribution_with_consultation", change_id=f"PAY-{RUN}", **times)
    accepted["consultation"] = dict(accepted["consultation"], consulted_at=now - DAY_MS)
    refused = example("algorithm_rule_change", "penalty_without_consultation", change_id=f"PEN-{RUN}", **times)
    for change in (accepted, refused):
        send(kafka, f"platform.{ANSWERS}.algorithm-changes", "algorithm_rule_change", change)

    def routed(topic):
        return [r for r in records(kafka, topic, "algorithm_rule_change") if r["event_id"] == accepted["event_id"]]

    wait_for(lambda: routed(REGULATOR_TOPIC) and routed(PUBLIC_REGISTER_TOPIC), 60, "accepted change routed")
    [rejection] = wait_for(lambda: [r for r in records(kafka, rejected_topic(ANSWERS), "rejection_record")
                                    if r["event_id"] == refused["event_id"]], 60, "refused change")
    assert (rejection["reason"], rejection["event_type"]) == ("consultation_missing", "algorithm-changes")
    assert not [r for r in records(kafka, REGULATOR_TOPIC, "algorithm_rule_change") if r["event_id"] == refused["event_id"]]


def test_state_survives_a_restart(kafka, worker):
    """Open sites, notice areas and tracks are restored from the state topic: the silent
    platform's late measure still answers its track, and its OVERDUE status is not repeated."""
    notice_id = SHARED["notice_id"]
    assert worker.stop() == 0, worker.log_tail()
    worker.start()
    wait_for(lambda: worker.metric("gigbridge_notice_tracks", state="OVERDUE") >= 1, 90, "tracks restored")
    late = example("protection_measure", "suspend_dispatch_nanshan", platform_id=SILENT, notice_id=notice_id,
                   occurred_at=int(time.time() * 1000), division_codes=["440304000000"])
    send(kafka, f"platform.{SILENT}.measures", "protection_measure", late)
    answered = wait_for(lambda: [s for s in statuses(kafka, notice_id)
                                 if s["platform_id"] == SILENT and s["state"] == "ANSWERED"], 60, "late answer")
    assert answered[0]["response_ms"] > 4000  # after the overdue time
    assert [s["state"] for s in statuses(kafka, notice_id) if s["platform_id"] == SILENT].count("OVERDUE") == 1
