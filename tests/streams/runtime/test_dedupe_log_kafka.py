"""Dedupe log on the real broker: what one worker appended, another worker's store replays."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from gigbridge.topics_admin import TopicAdmin
from schemas.catalog import default_catalog
from streams.runtime.dedupe.log import log_record, log_topic, log_topic_configs, replay
from streams.runtime.dedupe.store import DedupeStore
from tests.support.kafka_io import hub_settings

pytestmark = pytest.mark.kafka
CATALOG = default_catalog()
WINDOW_MS = 60_000


async def _append(kafka, deliveries) -> list:
    producer = AIOKafkaProducer(acks="all", **hub_settings(kafka).aiokafka_config)
    await producer.start()
    try:
        futures = [await producer.send(d.topic, d.value, partition=d.partition) for d in deliveries]
        return [await f for f in futures]
    finally:
        await producer.stop()


async def _replay(kafka, store, app_id, partitions) -> int:
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **hub_settings(kafka).aiokafka_config)
    await consumer.start()
    try:
        return await replay(consumer, store, CATALOG, app_id, partitions)
    finally:
        await consumer.stop()


def test_a_new_owner_replays_what_the_previous_one_appended(kafka, tmp_path):
    app_id, ingest = f"dl-{uuid.uuid4().hex[:6]}", "platform.dl-test.incidents"
    TopicAdmin(hub_settings(kafka)).ensure([log_topic(app_id, ingest)], 2, None, log_topic_configs(WINDOW_MS))
    now = 1_700_000_000_000
    first = [log_record(CATALOG, app_id, ingest, 1, [f"e{i}" for i in range(3)], now),
             log_record(CATALOG, app_id, ingest, 1, ["e3"], now + 10),
             log_record(CATALOG, app_id, ingest, 0, ["other-partition"], now)]
    asyncio.run(_append(kafka, first))

    store = DedupeStore(tmp_path / "b", WINDOW_MS).open()
    try:
        assert asyncio.run(_replay(kafka, store, app_id, [(ingest, 1)])) == 2
        assert all(store.seen_before(ingest, 1, f"e{i}", now + 100) for i in range(4))
        assert not store.seen_before(ingest, 0, "other-partition", now + 100)  # not asked for
        assert store.next_log_offset(ingest, 1) == 2
        # more appended later: the next replay reads only those
        asyncio.run(_append(kafka, [log_record(CATALOG, app_id, ingest, 1, ["e4"], now + 20)]))
        assert asyncio.run(_replay(kafka, store, app_id, [(ingest, 1), (ingest, 0)])) == 2
        assert store.seen_before(ingest, 1, "e4", now + 100) and store.seen_before(ingest, 0, "other-partition", now)
        assert asyncio.run(_replay(kafka, store, app_id, [(ingest, 1)])) == 0
    finally:
        store.close()
