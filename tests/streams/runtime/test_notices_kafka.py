"""The worker's notice flows on the real broker: a CAP warning published through the intake
reaches the platforms with open sites in its area as NoticeStatus tracks; a platform's measure
answers its track; a platform that never answers an ORANGE warning becomes overdue (status and
metric) and the answering platform's notice webhook receives it; algorithm-rule changes are routed
or refused with the reason code; incidents inside a
warning's area and window are counted per 10,000 active workers before/after the first measure; a
platform whose site is read after a warning (onboarded meanwhile: a rebalance) is tracked then."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gigbridge.devtools.sim_endpoint import SimEndpoint
from gigbridge.simulator.notice_demo import heat_warning_cap
from gigbridge.divisions import default_table
from gigbridge.topics_admin import TopicAdmin
from schemas.catalog import default_catalog
from schemas.examples import load_examples
from schemas.wire import decode, encode
from streams.core.notices.rule_changes import PUBLIC_REGISTER_TOPIC, REGULATOR_TOPIC
from streams.core.topics import ingest_topic, rejected_topic, validated_topic
from streams.runtime.delivery import NOTICE_RECEIPTS
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


WEBHOOK_SECRET = "notice-webhook-secret-0123456789"


@pytest.fixture(scope="module")
def kafka(own_kafka):
    """A broker of this module's own (the notice flows read every platform's measures and the hub's validated sites, incidents and headcounts from the start; tests/conftest.py ``own_kafka``)."""
    return own_kafka


@pytest.fixture(scope="module")
def webhook():
    """The in-repo simulated endpoint on loopback, served by its own event loop in a thread."""
    loop, endpoint = asyncio.new_event_loop(), SimEndpoint(secret=WEBHOOK_SECRET)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(endpoint.start(), loop).result(30)
    yield endpoint
    asyncio.run_coroutine_threadsafe(endpoint.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)


def worker_env(webhook) -> dict:
    return {"GIGBRIDGE_APP_ID": f"hub-notices-{RUN}", "GIGBRIDGE_TOPIC_DISCOVERY_INTERVAL_S": "2",
            "GIGBRIDGE_NOTICE_OVERDUE_AFTER_S": "4", "GIGBRIDGE_NOTICE_CHECK_INTERVAL_S": "1",
            "GIGBRIDGE_PLATFORM_NOTICE_WEBHOOKS": json.dumps({ANSWERS: {
                "url": webhook.webhook_url, "secret": WEBHOOK_SECRET}})}


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory, webhook):
    for platform in (ANSWERS, SILENT):
        onboard(kafka, platform)
    admin = TopicAdmin(hub_settings(kafka))
    try:  # what `gigbridge topics ensure --platform` creates for the notice flows
        admin.ensure([f"platform.{p}.{t}" for p in (ANSWERS, SILENT) for t in ("measures", "algorithm-changes")]
                     + [validated_topic(t) for t in ("sites", "incidents", "headcounts")] + ["gov.notices.44"])
    finally:
        admin.close()
    hub = HubProcess(kafka, ["worker"], tmp_path_factory.mktemp("notices-worker"), worker_env(webhook)).start()
    wait_for(lambda: hub.metric("gigbridge_subscribed_ingest_topics") >= 6, 90, "worker subscribed")
    yield hub
    assert hub.stop() == 0, hub.log_tail()


def test_warning_tracks_concerned_platforms_answers_and_overdue(kafka, worker, webhook):
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

    # the answering platform's webhook got the notice, signed (the endpoint verified it), receipted
    key = f"{notice_id}/0/44"
    [posted] = wait_for(lambda: [c for c in webhook.received if c["idempotency_key"] == key], 60, "notice webhook")
    assert posted["payload"]["event"]["level"] == "ORANGE"
    wait_for(lambda: [r for r in records(kafka, NOTICE_RECEIPTS, "delivery_receipt") if r["event_id"] == key
                      and r["destination"] == f"notices-{ANSWERS}"], 60, "webhook receipt")

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


INJURED, AREA, OUTSIDE = f"inj{RUN}", "445381000000", "441523000000"  # divisions no other test uses
HOUR_MS = 3_600_000


def injury_cell(worker, phase: str) -> dict:
    return {name: worker.metric(f"gigbridge_notice_{name}", phase=phase)
            for name in ("injuries", "exposed_workers", "injuries_per_10000")}


def test_incidents_in_a_warning_counted_per_10000_workers_before_and_after_the_measure(kafka, worker):
    """A warning for one county (15 June 2026, 10:00-20:00 +08:00), a platform with 2,000 active
    workers there answering with a measure effective from 13:00: six incidents before it, five
    after it, and three not linked (outside the area, before the onset, after the expiry).
    Headcounts and incidents are written to the validated topics as the validator would (the
    incidents' times lie in the warning's past window, which ingest validation would refuse as late)."""
    onboard(kafka, INJURED)
    admin = TopicAdmin(hub_settings(kafka))
    try:
        admin.ensure([f"platform.{INJURED}.{t}" for t in ("measures", "algorithm-changes")])
    finally:
        admin.close()
    now = int(time.time() * 1000)
    send(kafka, ingest_topic(INJURED, "sites"), "site_event", example(
        "site_event", "opened_delivery_station", platform_id=INJURED, occurred_at=now, site_id=f"site-{INJURED}",
        division_code=AREA))
    send(kafka, validated_topic("headcounts"), "headcount_report", example(
        "headcount_report", "monthly_delivery_station", platform_id=INJURED, site_id=f"site-{INJURED}",
        division_code=AREA, active_workers=2000, occurred_at=now))
    wait_for(lambda: worker.metric("gigbridge_notice_open_sites") >= 3, 60, "the platform's site known")

    cap = ((CAP_DIR / "heat_orange_shenzhen.xml").read_bytes().replace(b"0041600000-", f"00417{RUN}-".encode())
           .replace(b"2026-05-31T", b"2026-06-15T").replace(b"440305", AREA[:6].encode())
           .replace(b"440304", AREA[:6].encode()))
    result = asyncio.run(kafka_intake(hub_settings(kafka), default_table().exists).submit(cap))
    assert result.problem is None and result.records
    notice_id, onset = result.records[0]["notice_id"], result.records[0]["onset"]
    wait_for(lambda: [s for s in statuses(kafka, notice_id) if s["platform_id"] == INJURED], 60, "platform tracked")
    measure = example("protection_measure", "suspend_dispatch_nanshan", platform_id=INJURED, notice_id=notice_id,
                      occurred_at=int(time.time() * 1000), division_codes=[AREA],
                      effective_from=onset + 3 * HOUR_MS, effective_to=onset + 8 * HOUR_MS)
    send(kafka, f"platform.{INJURED}.measures", "protection_measure", measure)
    wait_for(lambda: [s for s in statuses(kafka, notice_id) if s["state"] == "ANSWERED"], 60, "measure answered")
    baseline = injury_cell(worker, "before_measure")["injuries"]  # 0 unless earlier tests linked some

    def incident(division: str, at: int) -> None:
        send(kafka, validated_topic("incidents"), "incident_report", example(
            "incident_report", "traffic_accident_in_rain", platform_id=INJURED, division_code=division,
            occurred_at=at, reported_at=at, incident_id=str(uuid.uuid4())))

    for minute in range(6):
        incident(AREA, onset + HOUR_MS + minute * 60_000)
    for minute in range(5):
        incident(AREA, onset + 4 * HOUR_MS + minute * 60_000)
    incident(OUTSIDE, onset + 4 * HOUR_MS)
    incident(AREA, onset - 60_000)
    incident(AREA, onset + 10 * HOUR_MS)

    after = wait_for(lambda: (cell := injury_cell(worker, "after_measure"))["injuries"] >= 5 and cell, 60,
                     "after-measure injuries shown")
    assert after == {"injuries": 5, "exposed_workers": 2000, "injuries_per_10000": 25.0}
    before = wait_for(lambda: (cell := injury_cell(worker, "before_measure"))["injuries"] >= baseline + 6 and cell,
                      60, "before-measure injuries shown")
    assert before["injuries"] == baseline + 6 and before["exposed_workers"] >= 2000
    assert before["injuries_per_10000"] == round(before["injuries"] * 10_000 / before["exposed_workers"], 2)


EARLY, LATE, LATE_AREA = f"ear{RUN}", f"lat{RUN}", "445302000000"  # a county no other test uses


def open_site(kafka, platform: str) -> None:
    onboard(kafka, platform)
    admin = TopicAdmin(hub_settings(kafka))
    try:  # a new platform's measures topic: the notice group rebalances (pattern subscription)
        admin.ensure([f"platform.{platform}.{t}" for t in ("measures", "algorithm-changes")])
    finally:
        admin.close()
    send(kafka, ingest_topic(platform, "sites"), "site_event", example(
        "site_event", "opened_delivery_station", platform_id=platform, occurred_at=int(time.time() * 1000),
        site_id=f"site-{platform}", division_code=LATE_AREA))


def test_a_platform_whose_site_is_read_after_the_warning_is_tracked_and_answers(kafka, worker):
    """Issue #17: sites and warnings are read in no fixed order (the demo's sites were validated
    after its warning was read: no platform was ever tracked). A platform onboarded right after a
    warning (its new topics rebalance the notice group) whose site is read after the warning is
    tracked then, and the tracks made before the rebalance are kept: both measures answer."""
    sites_before = worker.metric("gigbridge_notice_open_sites")
    open_site(kafka, EARLY)
    cap = heat_warning_cap(f"44530241600000-{RUN}-HEAT", datetime.now(timezone.utc), 6, (LATE_AREA[:6],))
    wait_for(lambda: worker.metric("gigbridge_notice_open_sites") > sites_before, 60, "the early site known")
    result = asyncio.run(kafka_intake(hub_settings(kafka), default_table().exists).submit(cap))
    assert result.problem is None and result.records
    notice_id = result.records[0]["notice_id"]

    def tracked(platform: str, state: str = "AWAITING"):
        return [s for s in statuses(kafka, notice_id) if s["platform_id"] == platform and s["state"] == state]

    wait_for(lambda: tracked(EARLY), 60, "the early platform tracked")  # the warning was read
    open_site(kafka, LATE)
    wait_for(lambda: tracked(LATE), 60, "the platform whose site came later tracked")
    for platform in (EARLY, LATE):
        send(kafka, f"platform.{platform}.measures", "protection_measure", example(
            "protection_measure", "suspend_dispatch_nanshan", platform_id=platform, notice_id=notice_id,
            occurred_at=int(time.time() * 1000), division_codes=[LATE_AREA]))
    wait_for(lambda: tracked(EARLY, "ANSWERED") and tracked(LATE, "ANSWERED"), 60, "both measures answered")


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


def notice_group(kafka) -> tuple[int, str] | None:
    """(members, assignor) of the notice flows' group once it is stable (None while it rebalances)."""
    from kafka.admin import KafkaAdminClient

    group_id = f"hub-notices-{RUN}-notices"
    admin = KafkaAdminClient(**kafka.kafka_python_config())
    try:
        group = admin.describe_groups([group_id])[group_id]
    finally:
        admin.close()
    return (len(group["members"]), group["protocol_data"]) if group["group_state"] == "Stable" else None


def test_a_second_worker_stands_by_then_takes_over(kafka, worker, webhook, tmp_path_factory):
    """Two workers in the group: one owns every notice partition, the other stands by with no
    state; when the owner stops, the other restores the state and carries on: the first notice's
    OVERDUE is not repeated, and a new warning tracks both platforms (open sites restored), each
    OVERDUE once."""
    notice_id = SHARED["notice_id"]
    second = HubProcess(kafka, ["worker"], tmp_path_factory.mktemp("notices-worker-2"), worker_env(webhook)).start()
    try:
        members, assignor = wait_for(lambda: (g := notice_group(kafka)) and g[0] == 2 and g, 90, "both workers in")
        assert assignor == "single-owner"
        hubs = (worker, second)
        owners = wait_for(lambda: [h for h in hubs if h.metric("gigbridge_notice_owner") == 1] or None, 60, "an owner")
        [owner], [standby] = owners, [h for h in hubs if h is not owners[0]]
        wait_for(lambda: owner.metric("gigbridge_notice_tracks") >= 2, 60, "owner restored")
        assert standby.metric("gigbridge_notice_owner") == 0
        assert standby.metric("gigbridge_notice_open_sites") == 0
        assert standby.metric("gigbridge_notice_tracks") == 0 and standby.metric("gigbridge_notices_overdue") == 0

        assert owner.stop() == 0, owner.log_tail()
        wait_for(lambda: standby.metric("gigbridge_notice_owner") == 1, 90, "the stand-by takes over")
        wait_for(lambda: standby.metric("gigbridge_notice_tracks", state="ANSWERED") >= 2, 60, "state restored")

        cap = (CAP_DIR / "heat_orange_shenzhen.xml").read_bytes().replace(b"0041600000-", f"00418{RUN}-".encode())
        result = asyncio.run(kafka_intake(hub_settings(kafka), default_table().exists).submit(cap))
        assert result.problem is None and result.records
        second_notice = result.records[0]["notice_id"]

        def both_overdue():
            latest = {s["platform_id"]: s["state"] for s in statuses(kafka, second_notice)}
            return latest if latest == {ANSWERS: "OVERDUE", SILENT: "OVERDUE"} else None

        wait_for(both_overdue, 60, "the new owner tracks both platforms and marks them overdue")
        wait_for(lambda: standby.metric("gigbridge_notices_overdue", province="44", level="ORANGE") >= 2, 30,
                 "the new owner's timer ran after the overdue statuses")
        for notice in (notice_id, second_notice):
            for platform in (ANSWERS, SILENT):
                states = [s["state"] for s in statuses(kafka, notice) if s["platform_id"] == platform]
                assert states.count("OVERDUE") <= 1, (notice, platform, states)
        assert [s["state"] for s in statuses(kafka, second_notice)].count("OVERDUE") == 2
    finally:
        second.stop()  # an assertion here would hide the test's own failure


