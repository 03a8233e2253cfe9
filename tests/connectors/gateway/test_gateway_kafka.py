"""The gateway's produce path on the real broker: accepted events are in ``platform.<id>.<type>``
in the Confluent wire format before the response; rejected, spoofed or undeliverable requests
leave nothing behind."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from connectors.gateway import GatewayConfig, KafkaEventProducer
from schemas.catalog import default_catalog
from schemas.wire import MAGIC_BYTE, decode
from streams.core.topics import ingest_topic
from streams.core.validate import EVENT_TYPES, INGEST_KEY_FIELD
from tests.connectors.gateway.helpers import onboarded as onboarded_platforms
from tests.connectors.gateway.helpers import (
    examples,
    invalid_examples,
    kafka_settings,
    running_gateway,
    tokens_for,
    with_unknown_division,
)
from tests.support.kafka_io import read_all

pytestmark = pytest.mark.kafka

CATALOG = default_catalog()
# unique platform ids (the broker may be shared); GHOST has a token but is never onboarded
PLATFORM, OTHER, GHOST = (f"{p}{uuid.uuid4().hex[:8]}" for p in ("gwa", "gwb", "gwghost"))
TOKENS = tokens_for(PLATFORM, OTHER, GHOST)


@pytest.fixture(scope="module")
def onboarded(kafka):
    with onboarded_platforms(kafka, [PLATFORM, OTHER]):
        yield kafka


def gateway(**kwargs):
    return running_gateway(tokens=TOKENS, **kwargs)


async def connected_producer(kafka) -> KafkaEventProducer:
    producer = KafkaEventProducer.from_settings(kafka_settings(kafka))
    await producer.start()
    assert await producer.wait_ready(20), producer.last_error
    return producer


async def records_with_ids(kafka, topic: str, event_ids: set[str]) -> list:
    records = await asyncio.to_thread(read_all, kafka, topic)
    return [r for r in records if decode(CATALOG, r.value).record["event_id"] in event_ids]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
async def test_all_accepted_is_200_and_in_the_topic_in_wire_format(onboarded, event_type):
    kafka = onboarded
    events = examples(event_type, PLATFORM)
    key_field = INGEST_KEY_FIELD[event_type]
    async with gateway(producer=await connected_producer(kafka)) as gw:
        assert (await gw.session.get(f"{gw.url}/readyz")).status == 200
        resp = await gw.post(event_type, events, platform=PLATFORM)
        body = await resp.json()
    assert resp.status == 200, body
    assert body["accepted"] == len(events) and body["rejected"] == 0
    assert body["results"] == [{"index": i, "event_id": e["event_id"], "status": "accepted"}
                               for i, e in enumerate(events)]
    # acknowledged before the response: the records are readable right away
    records = await records_with_ids(kafka, ingest_topic(PLATFORM, event_type), {e["event_id"] for e in events})
    assert len(records) == len(events)
    version = CATALOG.by_event_type(event_type).latest
    by_id = {e["event_id"]: e for e in events}
    for r in records:
        assert r.value[0] == MAGIC_BYTE
        assert int.from_bytes(r.value[1:5], "big") == version.schema_id
        decoded = decode(CATALOG, r.value).record
        sent = by_id[decoded["event_id"]]
        assert {k: decoded[k] for k in sent} == sent
        assert r.key == sent[key_field].encode()


async def test_mixed_batch_is_207_with_reasons_and_field_paths(onboarded):
    kafka = onboarded
    valid = examples("incidents", PLATFORM)
    invalid = invalid_examples("incidents", PLATFORM)
    events = [x for pair in zip(valid, [i.payload for i in invalid]) for x in pair] + [
        i.payload for i in invalid[len(valid):]]
    expected = {}
    for i, e in enumerate(events):
        match = next((inv for inv in invalid if inv.payload is e), None)
        expected[i] = None if match is None else (match.reason, match.field)
    async with gateway(producer=await connected_producer(kafka)) as gw:
        resp = await gw.post("incidents", events, platform=PLATFORM)
        body = await resp.json()
    assert resp.status == 207, body
    assert body["accepted"] == len(valid) and body["rejected"] == len(invalid)
    for result in body["results"]:
        want = expected[result["index"]]
        if want is None:
            assert result["status"] == "accepted"
        else:
            assert result["status"] == "rejected"
            assert (result["reason"], result["field"]) == want, result
            assert result["message"]
    accepted_ids = {e["event_id"] for e in valid}
    all_ids = {e.get("event_id") for e in events if isinstance(e.get("event_id"), str)}
    records = await records_with_ids(kafka, ingest_topic(PLATFORM, "incidents"), all_ids)
    assert sorted(decode(CATALOG, r.value).record["event_id"] for r in records) == sorted(accepted_ids)


async def test_json_lines_are_produced(onboarded):
    kafka = onboarded
    events = examples("headcounts", PLATFORM)
    text = "\n".join(json.dumps(e) for e in events)
    async with gateway(producer=await connected_producer(kafka)) as gw:
        resp = await gw.post("headcounts", data=text, content_type="application/x-ndjson", platform=PLATFORM)
    assert resp.status == 200
    records = await records_with_ids(kafka, ingest_topic(PLATFORM, "headcounts"), {e["event_id"] for e in events})
    assert len(records) == len(events)


async def test_spoofing_request_writes_nothing(onboarded):
    kafka = onboarded
    events = examples("sites", OTHER)
    events[1]["platform_id"] = PLATFORM  # claims another platform than the token's
    async with gateway(producer=await connected_producer(kafka)) as gw:
        resp = await gw.post("sites", events, platform=OTHER)
        body = await resp.json(content_type=None)
    assert resp.status == 403 and body["indexes"] == [1]
    records = await records_with_ids(kafka, ingest_topic(OTHER, "sites"), {e["event_id"] for e in events})
    assert records == []


async def test_topic_missing_on_the_broker_times_out_as_503(onboarded):
    """The producer is connected, but the platform was never onboarded (no topic; auto-create is
    off): the delivery deadline passes and nothing is reported accepted."""
    kafka = onboarded
    config = GatewayConfig(produce_timeout_s=1.0)
    async with gateway(producer=await connected_producer(kafka), config=config) as gw:
        control = await gw.post("incidents", examples("incidents", PLATFORM), platform=PLATFORM)
        assert control.status == 200  # onboarded platform
        resp = await gw.post("sites", examples("sites", GHOST), platform=GHOST)
        body = await resp.json(content_type=None)
        metrics = await (await gw.session.get(f"{gw.url}/metrics")).text()
    assert resp.status == 503, body
    assert body["type"].endswith("/kafka-unavailable") and int(resp.headers["Retry-After"]) >= 1
    assert "results" not in body
    assert f'gigbridge_gateway_events_total{{outcome="unavailable",platform="{GHOST}",type="sites"}} 4.0' in metrics


async def test_rejected_only_batch_needs_no_produce(onboarded):
    kafka = onboarded
    async with gateway(producer=await connected_producer(kafka)) as gw:
        resp = await gw.post("sites", with_unknown_division(examples("sites", PLATFORM)), platform=PLATFORM)
    assert resp.status == 207
