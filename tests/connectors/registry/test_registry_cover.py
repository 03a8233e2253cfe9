"""The stock confluent-kafka ``AvroSerializer`` / ``AvroDeserializer`` against the hub's registry
(no broker) for the occupational-injury cover contracts: the serializer picks the hub's schema
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
}


@pytest.fixture(scope="module")
def client():
    with ServerThread(lambda: create_registry_app()) as server:
        yield SchemaRegistryClient({"url": server.url})


def _millis(value):
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return value


@pytest.mark.parametrize("contract", sorted(TOPICS))
def test_stock_serializer_writes_the_hubs_bytes_for_cover_topics(client, contract):
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
        read = {k: _millis(v) for k, v in deserializer(hub_bytes, ctx).items()}
        assert read == decode(CATALOG, hub_bytes).record  # the stock reader sees what the hub wrote
