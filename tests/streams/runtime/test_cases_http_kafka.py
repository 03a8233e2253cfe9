"""Concern cases over HTTP on the real broker with the production ACLs (issue #16): the gateway
runs as the hub's least-privilege user; a platform posts a case, the unit it was routed to
accepts it and acknowledges an incident over HTTP, and the platform's ``case-updates`` shows the
ACCEPTED state (its ``incident-acks`` the acknowledgement) -- while the hub user still may not
write the unit's own ``gov.units.<unit>.case-events``."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from streams.core.cases.gateway_input import UNITS_GATEWAY_TOPIC
from streams.core.cases.lifecycle import open_case
from streams.loaders.cases import load_units
from tests.support.kafka_io import HubProcess, hub_settings, read_all, wait_for

pytestmark = pytest.mark.kafka

CATALOG = default_catalog()
UNITS = load_units()


def now_ms() -> int:
    return int(time.time() * 1000)


def test_a_case_submitted_and_accepted_over_http_under_the_production_acls(kafka, tmp_path):
    from kafka import KafkaProducer
    from kafka.errors import TopicAuthorizationFailedError

    from connectors.gateway import KafkaEventProducer
    from connectors.gateway.config import hash_token, unit_tokens
    from gigbridge.topics_admin import TopicAdmin
    from tests.connectors.gateway.helpers import kafka_settings, running_gateway
    from tests.support.acl_users import applied_access, wait_until_authorized

    tag = uuid.uuid4().hex[:8]
    platform = f"hc{tag}"
    case = {"case_id": str(uuid.uuid4()), "source_kind": "PLATFORM", "source_id": platform, "platform_id": platform,
            "division_code": "110105001000", "category": "PAY", "urgency": "URGENT",
            "summary": "Heat allowance for May not paid as agreed.", "submitted_at": now_ms() - 60_000}
    unit = open_case(case, UNITS).state.assigned_unit
    unit_topic = f"gov.units.{unit}.case-events"
    admin = TopicAdmin(hub_settings(kafka))
    try:  # what onboarding the platform and the unit creates
        admin.ensure([f"platform.{platform}.cases", f"platform.{platform}.case-events", unit_topic,
                      UNITS_GATEWAY_TOPIC])
    finally:
        admin.close()
    worker = HubProcess(kafka, ["worker"], tmp_path, {"GIGBRIDGE_APP_ID": f"hub-casehttp-{tag}",
                                                      "GIGBRIDGE_TOPIC_DISCOVERY_INTERVAL_S": "2"}).start()
    hub = f"casehttp-hub-{tag}"
    try:
        wait_for(lambda: worker.metrics(), 90, "worker serving metrics")
        with applied_access(kafka, {"hub": {"user": hub, "app_id": f"casehttp-app-{tag}"},
                                    "units": [{"id": unit, "user": f"casehttp-unit-{tag}"}]}) as users:
            hub_conn = users[hub]

            wait_until_authorized(hub_conn, UNITS_GATEWAY_TOPIC)
            accepted = {"event_id": str(uuid.uuid4()), "case_id": case["case_id"], "action": "ACCEPTED",
                        "actor_kind": "UNIT", "actor_id": unit, "at": now_ms()}
            ack = {"event_id": str(uuid.uuid4()), "platform_id": platform, "incident_id": f"INC-{tag}",
                   "unit_id": unit, "action": "RECEIVED", "at": now_ms()}
            tokens = {"platform": f"tok-{platform}", "unit": f"tok-unit-{tag}"}
            unit_store = unit_tokens({unit: hash_token(tokens["unit"])})

            async def over_http() -> list[tuple[int, dict]]:
                producer = KafkaEventProducer.from_settings(kafka_settings(hub_conn))
                await producer.start()
                assert await producer.wait_ready(30), producer.last_error
                async with running_gateway(producer=producer, clock=time.time, tokens={platform: tokens["platform"]},
                                           unit_tokens=unit_store) as gw:
                    answers = [await gw.post("cases", [case], platform=platform)]
                    wait_for_state = asyncio.to_thread(wait_for, lambda: states("OPEN"), 90, "the case opened")
                    await wait_for_state
                    for stream, events in (("case-events", [accepted]), ("incident-acks", [ack])):
                        answers.append(await gw.session.post(
                            f"{gw.url}/v1/units/{unit}/{stream}", data=json.dumps(events),
                            headers={"Authorization": f"Bearer {tokens['unit']}", "Content-Type": "application/json"}))
                    return [(r.status, await r.json()) for r in answers]

            def states(status: str) -> list[dict] | None:
                found = [decode(CATALOG, r.value).record for r in read_all(kafka, f"platform.{platform}.case-updates")]
                return [s for s in found if s["case_id"] == case["case_id"] and s["status"] == status] or None

            answers = asyncio.run(over_http())
            assert [status for status, _ in answers] == [200, 200, 200], answers
            assert [body["topic"] for _, body in answers] == [f"platform.{platform}.cases", UNITS_GATEWAY_TOPIC,
                                                              UNITS_GATEWAY_TOPIC]
            (state,) = wait_for(lambda: states("ACCEPTED"), 90, "the ACCEPTED state on the platform's case-updates")
            assert (state["lead_unit"], state["version"]) == (unit, 2)
            acks = wait_for(lambda: [decode(CATALOG, r.value).record
                                     for r in read_all(kafka, f"platform.{platform}.incident-acks")] or None,
                            60, "the acknowledgement on the platform's incident-acks")
            assert acks == [{**ack, "target_unit": None, "note": None}]

            forger = KafkaProducer(**hub_conn.kafka_python_config(), acks="all", max_block_ms=10_000,
                                   request_timeout_ms=10_000)
            try:
                with pytest.raises(TopicAuthorizationFailedError):
                    forger.send(unit_topic, key=case["case_id"].encode(),
                                value=encode(CATALOG.contract("case_event").latest, accepted)).get(timeout=15)
            finally:
                forger.close(timeout=5)
    finally:
        assert worker.stop() == 0, worker.log_tail()
