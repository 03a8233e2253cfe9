"""Concern cases over HTTP (connectors.gateway.cases) without a broker: platforms post cases and
steps on the ingest route, units post steps and acknowledgements with their own token; what
reaches the producer, per-event answers and every error status."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from connectors.gateway import GatewayConfig
from connectors.gateway.config import hash_token, unit_tokens
from connectors.gateway.producer import ProduceError
from schemas.catalog import default_catalog
from schemas.examples import REFERENCE_NOW_MS
from schemas.wire import decode
from streams.core.cases.gateway_input import gateway_sender
from streams.loaders.cases import load_units
from tests.connectors.gateway.helpers import (
    TOKENS, RecordingProducer, problem, running_gateway, slow_body_status_line,
)

CATALOG = default_catalog()
UNIT, OTHER_UNIT = "110105-hrss", "110105-amr"
UNIT_TOKENS = {UNIT: "tok-unit-hrss-8c1d", OTHER_UNIT: "tok-unit-amr-51aa", "zz-unlisted": "tok-unit-zz-07"}
AT = REFERENCE_NOW_MS - 60_000


def case(platform: str = "swiftdash", **kw) -> dict:
    return {"case_id": str(uuid.uuid4()), "source_kind": "PLATFORM", "source_id": platform, "platform_id": platform,
            "division_code": "110105001000", "category": "PAY", "urgency": "GENERAL", "summary": "heat allowance unpaid",
            "submitted_at": AT, **kw}


def step(actor_kind: str = "UNIT", actor: str = UNIT, action: str = "ACCEPTED", **kw) -> dict:
    return {"event_id": str(uuid.uuid4()), "case_id": str(uuid.uuid4()), "action": action,
            "actor_kind": actor_kind, "actor_id": actor, "at": AT, **kw}


def ack(unit: str = UNIT, **kw) -> dict:
    return {"event_id": str(uuid.uuid4()), "platform_id": "swiftdash", "incident_id": "SD-0531-7", "unit_id": unit,
            "action": "RECEIVED", "at": AT, **kw}


def gateway(producer=None, **kw):
    units = unit_tokens({u: hash_token(t) for u, t in UNIT_TOKENS.items()})
    return running_gateway(producer=producer or RecordingProducer(), unit_tokens=units, **kw)


async def post_unit(gw, stream: str, events, *, unit: str = UNIT, token: str | None = UNIT_TOKENS[UNIT],
                    content_type: str = "application/json", data: bytes | None = None):
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = data if data is not None else json.dumps(events).encode()
    return await gw.session.post(f"{gw.url}/v1/units/{unit}/{stream}", data=body, headers=headers)


# --- platforms: the ingest route ------------------------------------------------------------------

async def test_a_platforms_case_goes_to_its_cases_topic_keyed_by_case_id():
    producer = RecordingProducer()
    events = [case(), case(urgency="EMERGENCY")]
    async with gateway(producer) as gw:
        resp = await gw.post("cases", events)
        body = await resp.json()
    assert resp.status == 200, body
    assert body["topic"] == "platform.swiftdash.cases" and body["accepted"] == 2
    assert [r["event_id"] for r in body["results"]] == [e["case_id"] for e in events]
    ((topic, records, headers),) = producer.sent
    assert (topic, headers) == ("platform.swiftdash.cases", [])
    assert [k for k, _ in records] == [e["case_id"].encode() for e in events]
    assert decode(CATALOG, records[0][1]).record["summary"] == "heat allowance unpaid"


async def test_a_platforms_steps_are_judged_per_event_as_the_intake_would():
    producer = RecordingProducer()
    own = step("PLATFORM", "swiftdash", "RESPONDED", note="paid on 3 June")
    events = [own, step("PLATFORM", "cityride", "RESPONDED"), step(), step("PLATFORM", "swiftdash", "FEEDBACK")]
    async with gateway(producer) as gw:
        resp = await gw.post("case-events", events)
        body = await resp.json()
    assert resp.status == 207, body
    assert [(r["status"], r.get("reason")) for r in body["results"]] == [
        ("accepted", None), ("rejected", "platform_mismatch"), ("rejected", "platform_mismatch"),
        ("rejected", "invalid_satisfaction")]
    ((topic, records, _),) = producer.sent
    assert topic == "platform.swiftdash.case-events" and records == [(own["case_id"].encode(), records[0][1])]


async def test_a_case_about_another_platform_is_403_and_nothing_is_written():
    producer = RecordingProducer()
    async with gateway(producer) as gw:
        await problem(await gw.post("cases", [case(), case("cityride")]), 403, "platform-mismatch")
    assert producer.sent == []


async def test_platform_case_route_errors():
    async with gateway(RecordingProducer(ProduceError("down"))) as gw:
        await problem(await gw.post("cases", [case()], platform=None), 401, "missing-token")
        await problem(await gw.post("cases", [case()], content_type="text/plain"), 415, "unsupported-media-type")
        await problem(await gw.post("cases", data=b"[{"), 400, "malformed-body")
        body = await problem(await gw.post("case-events", [step("PLATFORM", "swiftdash", "RESPONDED")]), 503,
                             "kafka-unavailable")
        assert body["retry_after_s"] > 0


# --- units: their own route -----------------------------------------------------------------------

async def test_a_units_ack_goes_to_the_hub_topic_with_the_token_s_unit_in_headers():
    producer = RecordingProducer()
    events = [ack(), ack(unit=OTHER_UNIT)]
    async with gateway(producer) as gw:
        resp = await post_unit(gw, "incident-acks", events)
        body = await resp.json()
    assert resp.status == 207, body
    assert body["unit_id"] == UNIT and body["topic"] == "hub.units.gateway"
    assert [(r["status"], r.get("reason"), r.get("field")) for r in body["results"]] == [
        ("accepted", None, None), ("rejected", "unit_mismatch", "unit_id")]
    ((topic, records, headers),) = producer.sent
    assert topic == "hub.units.gateway" and [k for k, _ in records] == [b"SD-0531-7"]
    assert tuple(gateway_sender(headers, load_units())) == ("UNIT", UNIT, "incident-acks")


async def test_all_valid_steps_is_200():
    producer = RecordingProducer()
    async with gateway(producer) as gw:
        lines = (step(), step(action="TRANSFERRED", target_unit="310115-hrss"))
        resp = await post_unit(gw, "case-events", None, content_type="application/x-ndjson",
                               data=b"\n".join(json.dumps(e).encode() for e in lines))
        body = await resp.json()
    assert resp.status == 200 and body["accepted"] == 2, body
    assert len(producer.sent[0][1]) == 2


@pytest.mark.parametrize("path_unit, stream, token, status, slug", [
    (UNIT, "cases", UNIT_TOKENS[UNIT], 404, "unknown-event-type"),       # platforms only
    (UNIT, "case-updates", None, 404, "unknown-event-type"),             # before the token
    (UNIT, "case-events", None, 401, "missing-token"),
    (UNIT, "case-events", "tok-nobody", 401, "invalid-token"),
    (UNIT, "case-events", TOKENS["swiftdash"], 401, "invalid-token"),    # a platform token is not a unit's
    (OTHER_UNIT, "case-events", UNIT_TOKENS[UNIT], 403, "wrong-unit"),
    ("zz-unlisted", "case-events", UNIT_TOKENS["zz-unlisted"], 403, "unknown-unit"),
])
async def test_unit_route_refusals_before_the_body(path_unit, stream, token, status, slug):
    producer = RecordingProducer()
    async with gateway(producer) as gw:
        await problem(await post_unit(gw, stream, [step()], unit=path_unit, token=token), status, slug)
    assert producer.sent == []


async def test_unit_route_body_errors():
    config = GatewayConfig(max_events=2, rate_burst=2, rate_events_per_s=0.001, max_body_bytes=4096)
    async with gateway(RecordingProducer(), config=config) as gw:
        await problem(await post_unit(gw, "case-events", [step()], content_type="text/csv"), 415,
                      "unsupported-media-type")
        await problem(await post_unit(gw, "case-events", None, data=b"[" + b" " * 5000 + b"]"), 413, "body-too-large")
        await problem(await post_unit(gw, "case-events", [step()] * 3), 413, "too-many-events")
        await problem(await post_unit(gw, "case-events", None, data=b"{not json"), 400, "malformed-body")
        await problem(await post_unit(gw, "case-events", []), 400, "empty-batch")
        assert (await post_unit(gw, "case-events", [step(), step()])).status == 200  # the whole burst
        await problem(await post_unit(gw, "case-events", [step()]), 429, "rate-limited")
        # a unit's bucket is its own: a platform of the same gateway is not slowed by it
        assert (await gw.post("cases", [case()])).status == 200


async def test_unit_route_slow_body_is_408():
    config = GatewayConfig(body_timeout_s=0.3, lingering_time_s=0.1)
    async with gateway(RecordingProducer(), config=config) as gw:
        head = await slow_body_status_line(gw.port, f"/v1/units/{UNIT}/case-events", UNIT_TOKENS[UNIT])
    assert head.startswith(b"HTTP/1.1 408")


async def test_unit_route_without_acknowledgement_is_503_nothing_accepted():
    async with gateway(RecordingProducer(ProduceError("no leader"))) as gw:
        resp = await post_unit(gw, "case-events", [step()])
        body = await problem(resp, 503, "kafka-unavailable")
    assert resp.headers["Retry-After"] == str(body["retry_after_s"])


async def test_unit_route_concurrency_limit_is_429():
    entered, release = asyncio.Event(), asyncio.Event()

    class Stuck(RecordingProducer):
        async def send_batch(self, topic, records, timeout_s, *, headers=()) -> None:
            entered.set()
            await release.wait()

    async with gateway(Stuck(), config=GatewayConfig(max_inflight=1)) as gw:
        first = asyncio.create_task(post_unit(gw, "case-events", [step()]))
        await asyncio.wait_for(entered.wait(), 5)  # the first request holds the unit's one slot
        await problem(await post_unit(gw, "case-events", [step()]), 429, "too-many-concurrent-requests")
        release.set()
        assert (await first).status == 200
