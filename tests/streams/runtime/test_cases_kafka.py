"""Concern cases on the real broker (issue #16): one case's full path -- submitted by a platform,
accepted by the unit it was routed to, transferred to a unit in another county, accepted and
answered and resolved there, feedback from the platform -- with the records on every topic; an
unauthorised unit's step and a spoofed one refused to their senders; a replay changing nothing;
an office's incident acknowledgements applied in order by their owner (an illegal one refused to
its sender); and after a restart of the worker both tables are the same (restored from their
changelogs)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest

from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from streams.core.cases.lifecycle import open_case
from streams.loaders.cases import load_units
from tests.support.kafka_io import HubProcess, hub_settings, producer, read_all, wait_for

pytestmark = pytest.mark.kafka

CATALOG = default_catalog()
UNITS = load_units()
PLATFORM = "caseride"
OTHER_COUNTY_UNIT = "310115-hrss"  # Shanghai Pudong
STRANGER = "440305-hrss"  # Shenzhen Nanshan: never involved in the case
TOKENS = {"platform": "caseride-look-up-token", "stranger": "nanshan-look-up-token"}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get(port: int, path: str, token: str | None) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def now_ms() -> int:
    return int(time.time() * 1000)


def new_case() -> dict:
    return {"case_id": str(uuid.uuid4()), "source_kind": "PLATFORM", "source_id": PLATFORM, "platform_id": PLATFORM,
            "division_code": "110105001000", "category": "PAY", "urgency": "URGENT", "worker_ref": None,
            "incident_id": None, "order_ref": None, "summary": "Heat allowance for May not paid as agreed.",
            "submitted_at": now_ms() - 60_000}


def step(case_id: str, action: str, kind: str, actor: str, **kw) -> dict:
    return {"event_id": str(uuid.uuid4()), "case_id": case_id, "action": action, "actor_kind": kind,
            "actor_id": actor, "target_unit": None, "reason_code": None, "satisfaction": None, "note": None,
            "at": now_ms(), **kw}


def records(kafka, topic: str, case_id: str) -> list[dict]:
    out = [decode(CATALOG, r.value).record for r in read_all(kafka, topic)]
    return [r for r in out if r["case_id"] == case_id]


@pytest.fixture(scope="module")
def hub(kafka, tmp_path_factory):
    from gigbridge.topics_admin import TopicAdmin

    workdir = tmp_path_factory.mktemp("cases-worker")
    first = UNITS.route("PAY", "110105001000").id
    admin = TopicAdmin(hub_settings(kafka))
    try:  # what onboarding a platform and a unit creates (`gigbridge topics ensure`)
        admin.ensure([f"platform.{PLATFORM}.cases", f"platform.{PLATFORM}.case-events",
                      *(f"gov.units.{u}.{t}" for u in (first, OTHER_COUNTY_UNIT, STRANGER)
                        for t in ("case-events", "incident-acks"))])
    finally:
        admin.close()
    env = {"GIGBRIDGE_APP_ID": f"hub-cases-{uuid.uuid4().hex[:8]}", "GIGBRIDGE_TOPIC_DISCOVERY_INTERVAL_S": "2",
           "GIGBRIDGE_GATEWAY_TOKENS": json.dumps({PLATFORM: digest(TOKENS["platform"])}),
           "GIGBRIDGE_CASE_UNIT_TOKENS": json.dumps({STRANGER: digest(TOKENS["stranger"])})}

    def start() -> HubProcess:
        process = HubProcess(kafka, ["worker"], workdir, env).start()
        wait_for(lambda: process.metric("gigbridge_subscribed_ingest_topics") >= 0 and process.metrics(), 90,
                 "worker serving metrics")
        return process

    yield start
    # each test stops what it started


def incident_ack(unit: str, action: str, incident_id: str, target: str | None = None) -> dict:
    return {"event_id": str(uuid.uuid4()), "platform_id": PLATFORM, "incident_id": incident_id, "unit_id": unit,
            "action": action, "target_unit": target, "note": None, "at": now_ms()}


def acks_of(kafka, topic: str, incident_id: str) -> list[dict]:
    """IncidentAcks (or the CaseRejections of acks, named by incident) of one incident on a topic."""
    out = [decode(CATALOG, r.value).record for r in read_all(kafka, topic)]
    return [r for r in out if r.get("incident_id", r.get("case_id")) == incident_id]


def test_one_case_full_path_and_restart(kafka, hub):
    worker = hub()
    p = producer(kafka)

    def send(topic: str, record: dict, contract: str) -> None:
        p.send(topic, key=b"any-key", value=encode(CATALOG.contract(contract).latest, record)).get(30)

    def state_at(case_id: str, version: int) -> dict:
        def found():
            states = records(kafka, "hub.cases.state", case_id)
            return next((s for s in states if s["version"] == version), None)
        return wait_for(found, 90, f"case state version {version}")

    try:
        case = new_case()
        cid = case["case_id"]
        first = open_case(case, UNITS).state.assigned_unit
        send(f"platform.{PLATFORM}.cases", case, "concern_case")
        opened = state_at(cid, 1)
        assert (opened["status"], opened["assigned_unit"]) == ("OPEN", first)

        accepted = step(cid, "ACCEPTED", "UNIT", first)
        send(f"gov.units.{first}.case-events", accepted, "case_event")
        assert state_at(cid, 2)["lead_unit"] == first
        transferred = step(cid, "TRANSFERRED", "UNIT", first, target_unit=OTHER_COUNTY_UNIT)
        send(f"gov.units.{first}.case-events", transferred, "case_event")
        moved = state_at(cid, 3)
        assert (moved["status"], moved["assigned_unit"], moved["division_code"]) == ("OPEN", OTHER_COUNTY_UNIT,
                                                                                      "110105001000")
        assert moved["response_due"] == opened["response_due"]  # the clock is kept across regions

        # a unit that never handled the case, and one writing as another unit: refused to the sender
        send(f"gov.units.{STRANGER}.case-events", step(cid, "TRANSFERRED", "UNIT", STRANGER, target_unit=STRANGER),
             "case_event")
        send(f"gov.units.{STRANGER}.case-events", step(cid, "ACCEPTED", "UNIT", OTHER_COUNTY_UNIT), "case_event")
        refusals = wait_for(lambda: len(r := records(kafka, f"gov.units.{STRANGER}.case-rejections", cid)) >= 2 and r,
                            90, "refusals to the stranger")
        assert sorted(r["reason"] for r in refusals) == ["actor_not_permitted", "unit_mismatch"]

        for action in ("ACCEPTED", "RESPONDED", "RESOLVED"):
            send(f"gov.units.{OTHER_COUNTY_UNIT}.case-events", step(cid, action, "UNIT", OTHER_COUNTY_UNIT), "case_event")
        resolved = state_at(cid, 6)
        assert (resolved["status"], resolved["lead_unit"]) == ("RESOLVED", first)
        feedback = step(cid, "FEEDBACK", "PLATFORM", PLATFORM, satisfaction=4)
        send(f"platform.{PLATFORM}.case-events", feedback, "case_event")
        final = state_at(cid, 7)
        assert final["satisfaction"] == 4 and len(final["applied_event_ids"]) == 6

        send(f"gov.units.{first}.case-events", accepted, "case_event")  # a replay: nothing changes
        wait_for(lambda: worker.metric("gigbridge_case_steps_total", outcome="replayed") >= 1, 60, "replay seen")
        assert max(s["version"] for s in records(kafka, "hub.cases.state", cid)) == 7

        # fan-out: both units and the platform saw every state they should; no one saw a refusal as a state
        platform_versions = {s["version"] for s in records(kafka, f"platform.{PLATFORM}.case-updates", cid)}
        assert platform_versions == set(range(1, 8))
        assert {s["version"] for s in records(kafka, f"gov.units.{first}.case-updates", cid)} == set(range(1, 8))
        assert {s["version"] for s in records(kafka, f"gov.units.{OTHER_COUNTY_UNIT}.case-updates", cid)} >= {3, 7}
        assert records(kafka, f"gov.units.{STRANGER}.case-updates", cid) == []

        # look-ups: the platform concerned sees the case, a unit that never handled it does not
        status, seen = get(worker.port, f"/v1/cases/{cid}", TOKENS["platform"])
        assert (status, seen["version"], seen["status"], seen["overdue"]) == (200, 7, "RESOLVED", [])
        assert "applied_event_ids" not in seen
        assert get(worker.port, f"/v1/cases/{cid}", TOKENS["stranger"])[0] == 404
        assert get(worker.port, f"/v1/cases/{cid}", None)[0] == 401
        status, listed = get(worker.port, "/v1/cases?division=110105&overdue=false", TOKENS["platform"])
        assert status == 200 and cid in {c["case_id"] for c in listed["cases"]}
        assert get(worker.port, "/v1/cases?overdue=true", TOKENS["platform"])[1]["count"] == 0
        assert cid not in {c["case_id"] for c in get(worker.port, "/v1/cases", TOKENS["stranger"])[1]["cases"]}
        cli = subprocess.run([sys.executable, "-m", "gigbridge.cli", "cases", "list", "--division", "110105001",
                              "--status", "RESOLVED"], env={**os.environ, **kafka.as_env()},
                             capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stderr
        assert cid in {json.loads(line)["case_id"] for line in cli.stdout.splitlines()}
        trace = subprocess.run([sys.executable, "-m", "gigbridge.cli", "cases", "trace", cid],
                               env={**os.environ, **kafka.as_env()}, capture_output=True, text=True, timeout=120)
        assert trace.returncode == 0, trace.stderr
        path = [json.loads(line) for line in trace.stdout.splitlines()]
        on = {line["topic"] for line in path}
        assert {f"platform.{PLATFORM}.cases", "hub.validated.cases", f"gov.units.{first}.case-events",
                "hub.validated.case-events", "hub.cases.state", f"platform.{PLATFORM}.case-updates",
                f"gov.units.{OTHER_COUNTY_UNIT}.case-updates", f"gov.units.{STRANGER}.case-rejections"} <= on
        assert {line["record"]["case_id"] for line in path} == {cid}
        stamps = [line["timestamp"] for line in path]
        assert stamps == sorted(stamps)

        # incident acknowledgements: the owner keeps their order; refusals go to the sender, unchanged
        incident = f"inc-{uuid.uuid4().hex[:8]}"
        first_acks = f"gov.units.{first}.incident-acks"
        send(f"gov.units.{STRANGER}.incident-acks", incident_ack(STRANGER, "VISITED", incident), "incident_ack")
        received = incident_ack(first, "RECEIVED", incident)
        referred = incident_ack(first, "REFERRED", incident, target=OTHER_COUNTY_UNIT)
        for ack in (received, incident_ack(first, "RECEIVED", incident), referred, received):  # a 2nd RECEIVED, a replay
            send(first_acks, ack, "incident_ack")
        visited = incident_ack(OTHER_COUNTY_UNIT, "VISITED", incident)
        send(f"gov.units.{OTHER_COUNTY_UNIT}.incident-acks", visited, "incident_ack")
        send(f"gov.units.{STRANGER}.incident-acks", incident_ack(STRANGER, "VISITED", incident), "incident_ack")
        platform_acks = f"platform.{PLATFORM}.incident-acks"
        wait_for(lambda: visited["event_id"] in {a["event_id"] for a in acks_of(kafka, platform_acks, incident)}, 90,
                 "the referred unit's visit reaches the platform")
        seen = [a["event_id"] for a in acks_of(kafka, platform_acks, incident)]
        # the replay of RECEIVED re-sent the accepted ones (RECEIVED, REFERRED) in order
        expected = [received["event_id"], referred["event_id"], received["event_id"], referred["event_id"],
                    visited["event_id"]]
        assert seen == expected
        stranger_refusals = wait_for(lambda: len(r := acks_of(kafka, f"gov.units.{STRANGER}.case-rejections",
                                                               incident)) >= 2 and r, 60, "the stranger's acks refused")
        assert [r["reason"] for r in stranger_refusals] == ["not_received", "actor_not_permitted"]
        assert [r["reason"] for r in acks_of(kafka, f"gov.units.{first}.case-rejections", incident)] == [
            "illegal_transition"]
    finally:
        assert worker.stop() == 0, worker.log_tail()

    # restart: the table comes back (RocksDB + changelog); a second feedback is refused as such,
    # which only a worker that still knows the case's state can say
    again = hub()
    try:
        send(f"platform.{PLATFORM}.case-events", step(cid, "FEEDBACK", "PLATFORM", PLATFORM, satisfaction=1),
             "case_event")
        refused = wait_for(lambda: records(kafka, f"platform.{PLATFORM}.case-rejections", cid), 90,
                           "second feedback refused after the restart")
        assert [r["reason"] for r in refused] == ["feedback_already_given"]
        assert max(s["version"] for s in records(kafka, "hub.cases.state", cid)) == 7
        # the acknowledgements came back too: a second VISITED is refused as a repeat, not as "not received"
        send(f"gov.units.{OTHER_COUNTY_UNIT}.incident-acks", incident_ack(OTHER_COUNTY_UNIT, "VISITED", incident),
             "incident_ack")
        again_refused = wait_for(lambda: acks_of(kafka, f"gov.units.{OTHER_COUNTY_UNIT}.case-rejections", incident),
                                 90, "second visit refused after the restart")
        assert [r["reason"] for r in again_refused] == ["illegal_transition"]
    finally:
        p.close()
        assert again.stop() == 0, again.log_tail()
