"""The stock confluent-kafka ``AvroSerializer`` / ``AvroDeserializer`` against the hub's registry
(no broker) for the occupational-injury cover and the weather-notice contracts: the serializer picks the hub's schema
ids for the cover topics and writes byte for byte what the hub's codec writes."""

from __future__ import annotations

import datetime as dt

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from connectors.registry import create_registry_app
from schemas.catalog import default_catalog
from schemas.examples import load_examples
from schemas.wire import decode, encode
from tests.connectors.gateway.helpers import ServerThread

CATALOG = default_catalog()
TOPICS = {
    "order_cover": "platform.swiftdash.orders",
    "worker_day_cover": "gov.insurance.31.cover",
    "premium_statement": "platform.swiftdash.statements",
    "cover_gap": "gov.insurance.51.cover-gaps",
    "claim_status": "gov.insurance.44.claim-status",
    # weather notices, measures, algorithm-rule changes (docs/notices.md)
    "weather_notice": "gov.notices.44",
    "notice_status": "gov.notices.44.status",
    "protection_measure": "platform.swiftdash.measures",
    "algorithm_rule_change": "gov.regulator.algorithm-changes",
}


@pytest.fixture(scope="module")
def client():
    with ServerThread(lambda: create_registry_app()) as server:
        yield SchemaRegistryClient({"url": server.url})


def _millis(value):
    """The stock reader's datetimes back to epoch millis, also inside nested records."""
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _millis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_millis(v) for v in value]
    return value


@pytest.mark.parametrize("contract", sorted(TOPICS))
def test_stock_serializer_writes_the_hubs_bytes_for_cover_and_notice_topics(client, contract):
    topic = TOPICS[contract]
    latest = client.get_latest_version(f"{topic}-value")
    assert latest.schema_id == CATALOG.contract(contract).latest.schema_id
    serializer = AvroSerializer(client, latest.schema.schema_str,
                                conf={"auto.register.schemas": False, "use.latest.version": True})
    deserializer = AvroDeserializer(client)
    ctx = SerializationContext(topic, MessageField.VALUE)
    for example in load_examples(contract=contract, kind="valid"):
        hub_bytes = encode(CATALOG.contract(contract).latest, example.payload)
        assert serializer(example.payload, ctx) == hub_bytes
        read = _millis(deserializer(hub_bytes, ctx))
        assert read == decode(CATALOG, hub_bytes).record  # the stock reader sees what the hub wrote
