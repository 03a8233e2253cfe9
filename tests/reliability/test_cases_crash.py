"""Concern cases through kill -9 (issue #16): the worker is killed while the owner applies a round
of steps; after the restart every case reaches exactly the version its steps give (no step lost,
none applied twice: ``applied_event_ids`` holds each step once), every copy of a version on
``hub.cases.state`` is identical, and no step is refused."""

from __future__ import annotations

import time
import uuid

import pytest

from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from streams.loaders.cases import load_units
from tests.reliability.harness import Worker, record, unique
from tests.support.kafka_io import hub_settings, producer, read_all, wait_for

pytestmark = [pytest.mark.reliability, pytest.mark.kafka]

CATALOG = default_catalog()
UNITS = load_units()
N_CASES = 24
# Generous deadlines: the owner applies a few steps a second (one acknowledged write per step) and
# the machine running the suite is shared; a stall shows as a timeout naming its phase.
PHASE_S = 240
DIVISIONS = ("110105001000", "310115005000", "440305001000", "330106002000")


def now_ms() -> int:
    return int(time.time() * 1000)


def test_kill_9_while_applying_steps_loses_none_and_applies_none_twice(kafka, tmp_path, scenario_timer):
    from gigbridge.topics_admin import TopicAdmin

    platform = unique("crashcase")[:30]
    cases = [{"case_id": str(uuid.uuid4()), "source_kind": "PLATFORM", "source_id": platform, "platform_id": platform,
              "division_code": DIVISIONS[i % 4], "category": "PAY", "urgency": "GENERAL", "worker_ref": None,
              "incident_id": None, "order_ref": None, "summary": "pay withheld", "submitted_at": now_ms() - 60_000}
             for i in range(N_CASES)]
    unit_of = {c["case_id"]: UNITS.route("PAY", c["division_code"]).id for c in cases}
    admin = TopicAdmin(hub_settings(kafka))
    try:
        admin.ensure([f"platform.{platform}.cases", *(f"gov.units.{u}.case-events" for u in set(unit_of.values()))])
    finally:
        admin.close()
    p = producer(kafka)
    ids = set(unit_of)

    def versions() -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for r in read_all(kafka, "hub.cases.state"):
            state = decode(CATALOG, r.value).record
            if state["case_id"] in ids:
                out.setdefault(state["case_id"], []).append(state)
        return out

    def all_at(version: int) -> bool:
        seen = versions()
        return len(seen) == N_CASES and all(max(s["version"] for s in v) >= version for v in seen.values())

    def send_round(action: str) -> None:
        for c in cases:
            unit = unit_of[c["case_id"]]
            step = {"event_id": str(uuid.uuid4()), "case_id": c["case_id"], "action": action, "actor_kind": "UNIT",
                    "actor_id": unit, "target_unit": None, "reason_code": None, "satisfaction": None, "note": None,
                    "at": now_ms()}
            p.send(f"gov.units.{unit}.case-events", key=step["event_id"].encode(),
                   value=encode(CATALOG.contract("case_event").latest, step))
        p.flush()

    worker = Worker(kafka, tmp_path, unique("rel-cases")).start()
    try:
        for c in cases:
            p.send(f"platform.{platform}.cases", key=b"any", value=encode(CATALOG.contract("concern_case").latest, c))
        p.flush()
        wait_for(lambda: all_at(1), PHASE_S, "every case opened")
        send_round("ACCEPTED")
        wait_for(lambda: worker.metric("gigbridge_case_steps_total", outcome="applied") >= 3, PHASE_S, "steps applying")
        applied_at_kill = worker.metric("gigbridge_case_steps_total", outcome="applied")
        worker.kill()
        worker.start()
        wait_for(lambda: all_at(2), PHASE_S / 2, "every case accepted after the restart")
        send_round("RESPONDED")
        wait_for(lambda: all_at(3), PHASE_S, "every case answered")
        final = versions()
    finally:
        p.close()
        worker.stop()
    record("cases: kill -9 while applying", None, scenario_timer(),
           f"{N_CASES} cases x 2 steps; killed after {int(applied_at_kill)} steps applied")
    for case_id, states in final.items():
        by_version: dict[int, dict] = {}
        for s in states:
            assert by_version.setdefault(s["version"], s) == s, f"{case_id}: two different states of version {s['version']}"
        assert sorted(by_version) == [1, 2, 3], case_id
        last = by_version[3]
        assert last["status"] == "RESPONDED" and len(set(last["applied_event_ids"])) == len(last["applied_event_ids"]) == 2
    refused = [r for u in set(unit_of.values()) for r in read_all(kafka, f"gov.units.{u}.case-rejections")
               if decode(CATALOG, r.value).record["case_id"] in ids]
    assert refused == []
