"""Stock confluent-kafka-python clients against the hub's registry on the real broker: the
``AvroSerializer`` (no auto-registration, latest version) produces exactly the hub's wire
format, the ``AvroDeserializer`` reads both its own messages and hub-produced ones."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from confluent_kafka import Producer
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from connectors.gateway import create_gateway_app
from connectors.registry import KafkaTopicLister, create_registry_app
from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from streams.core.topics import ingest_topic
from tests.connectors.gateway.helpers import ServerThread, dead_producer, examples, kafka_settings, onboarded
from tests.support.kafka_io import producer as kafka_python_producer
from tests.support.kafka_io import read_all

pytestmark = pytest.mark.kafka

CATALOG = default_catalog()
PLATFORM = f"cf{uuid.uuid4().hex[:8]}"
TOPIC = ingest_topic(PLATFORM, "incidents")


def confluent_config(kafka) -> dict:
    """librdkafka settings for the test broker (SASL and TLS from gigbridge.kafka_tls)."""
    return {"bootstrap.servers": kafka.bootstrap, **kafka.security().rdkafka_config()}


@pytest.fixture(scope="module")
def platform_topics(kafka):
    with onboarded(kafka, [PLATFORM], partitions=1):
        yield


@pytest.fixture(scope="module", params=["gateway-mounted", "standalone"])
def registry_url(request, kafka, platform_topics):
    settings = kafka_settings(kafka)
    if request.param == "gateway-mounted":
        factory = lambda: create_gateway_app(settings, producer=dead_producer(), tokens={})  # noqa: E731
        suffix = "/registry"
    else:
        factory = lambda: create_registry_app(topic_lister=KafkaTopicLister.from_settings(settings))  # noqa: E731
        suffix = ""
    with ServerThread(factory) as server:
        yield server.url + suffix


def millis(value):
    """The deserializer turns timestamp-millis into datetimes; compare in epoch millis."""
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: millis(v) for k, v in value.items()}
    return value


def read_from(kafka, topic: str, start_offset: int) -> list[bytes]:
    """Values of partition 0 from ``start_offset`` (kafka-python, no consumer group)."""
    return [r.value for r in read_all(kafka, topic) if r.offset >= start_offset]


def end_offset(kafka, topic: str) -> int:
    consumer = KafkaConsumer(**kafka.kafka_python_config())
    try:
        tp = KafkaTopicPartition(topic, 0)
        return consumer.end_offsets([tp])[tp]
    finally:
        consumer.close()


def test_stock_serializer_and_deserializer_use_the_hubs_ids(kafka, registry_url):
    client = SchemaRegistryClient({"url": registry_url})
    latest = client.get_latest_version(f"{TOPIC}-value")
    assert latest.schema_id == CATALOG.contract("incident_report").latest.schema_id
    assert TOPIC + "-value" in client.get_subjects()  # the topic exists on the broker

    serializer = AvroSerializer(client, latest.schema.schema_str,
                                conf={"auto.register.schemas": False, "use.latest.version": True})
    deserializer = AvroDeserializer(client)
    record = examples("incidents", platform=PLATFORM)[0]
    ctx = SerializationContext(TOPIC, MessageField.VALUE)
    value = serializer(record, ctx)
    assert value[0] == 0 and int.from_bytes(value[1:5], "big") == latest.schema_id
    assert decode(CATALOG, value).record == record  # the hub's own codec reads it
    hub_value = encode(CATALOG.contract("incident_report").latest, record)
    assert value == hub_value  # byte for byte what the hub writes

    start = end_offset(kafka, TOPIC)
    producer = Producer(confluent_config(kafka))
    producer.produce(TOPIC, value=value, key=record["incident_id"].encode())
    assert producer.flush(20) == 0
    # a message written by the hub's codec through another client (kafka-python)
    hub_record = examples("incidents", platform=PLATFORM)[1]
    kp = kafka_python_producer(kafka)
    kp.send(TOPIC, encode(CATALOG.contract("incident_report").latest, hub_record)).get(20)
    kp.close()

    values = read_from(kafka, TOPIC, start)
    assert len(values) == 2
    got = [millis(deserializer(v, SerializationContext(TOPIC, MessageField.VALUE))) for v in values]
    assert got == [record, hub_record]


def test_default_auto_register_client_gets_the_existing_id(registry_url):
    """A client left at auto.register.schemas=true 'registers' the contract schema and gets the
    catalog id back (nothing changes); a schema of its own is refused with 42205."""
    client = SchemaRegistryClient({"url": registry_url})
    schema_str = client.get_latest_version(f"{TOPIC}-value").schema.schema_str
    serializer = AvroSerializer(client, schema_str)
    value = serializer(examples("incidents", platform=PLATFORM)[0], SerializationContext(TOPIC, MessageField.VALUE))
    assert int.from_bytes(value[1:5], "big") == CATALOG.contract("incident_report").latest.schema_id

    from confluent_kafka.schema_registry import Schema
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    own = '{"type": "record", "name": "Mine", "fields": [{"name": "a", "type": "string"}]}'
    with pytest.raises(SchemaRegistryError) as err:
        client.register_schema(f"{TOPIC}-value", Schema(own, "AVRO"))
    assert err.value.error_code == 42205 and err.value.http_status_code == 422
    assert client.test_compatibility(f"{TOPIC}-value", Schema(own, "AVRO")) is False


def test_stock_serializer_writes_orders_the_hub_accepts(kafka, registry_url):
    """The cover contract's subject works like the others: a stock AvroSerializer writes an
    OrderCover byte for byte as the hub would, and the hub's stream judgement accepts it."""
    from schemas.examples import REFERENCE_NOW_MS
    from streams.context import build_context
    from streams.core.classify import Accepted, classify
    from streams.core.topics import parse_ingest_topic
    from gigbridge.settings import Settings

    topic = ingest_topic(PLATFORM, "orders")
    client = SchemaRegistryClient({"url": registry_url})
    latest = client.get_latest_version(f"{topic}-value")
    assert latest.schema_id == CATALOG.contract("order_cover").latest.schema_id
    serializer = AvroSerializer(client, latest.schema.schema_str,
                                conf={"auto.register.schemas": False, "use.latest.version": True})
    record = examples("orders", platform=PLATFORM)[0]
    value = serializer(record, SerializationContext(topic, MessageField.VALUE))
    assert value == encode(CATALOG.contract("order_cover").latest, record)

    start = end_offset(kafka, topic)
    producer = Producer(confluent_config(kafka))
    producer.produce(topic, value=value, key=record["order_ref"].encode())
    assert producer.flush(20) == 0
    [written] = read_from(kafka, topic, start)
    ctx = build_context(Settings(), validate_only=True, catalog=CATALOG)
    outcome = classify(written, parse_ingest_topic(topic), ctx, REFERENCE_NOW_MS)
    assert isinstance(outcome, Accepted) and outcome.record == record
