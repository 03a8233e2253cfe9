"""gigbridge.topics_admin.TopicAdmin.ensure on the real broker: when it returns, the new topics'
leaders serve them -- the writer's first produce to a just-created office topic is acknowledged
without a NotLeaderForPartition retry (aiokafka logs each one as a warning; `make run` used to
print thousands in its first minute)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from gigbridge.topics_admin import TopicAdmin
from streams.core.plan import Delivery
from streams.runtime.writer import Writer, create_producer
from tests.support.kafka_io import hub_settings

pytestmark = pytest.mark.kafka


def test_first_produce_to_new_topics_needs_no_leader_retry(kafka, caplog) -> None:
    settings = hub_settings(kafka)
    tag = uuid.uuid4().hex[:8]
    topics = [f"gov.office.leader{tag}{n:02d}.sites" for n in range(24)]   # like a burst of new offices
    admin = TopicAdmin(settings)
    writer = Writer(lambda: create_producer(settings), admin, partitions_for=lambda topic: 1)
    deliveries = [Delivery("office", topic, b"site", f"first:{topic}".encode()) for topic in topics]

    async def go():
        try:
            return await writer.write(deliveries)
        finally:
            await writer.stop()

    caplog.set_level(logging.WARNING, logger="aiokafka")
    try:
        acks = asyncio.run(go())
        assert [(a.topic, a.offset) for a in acks] == [(t, 0) for t in topics]
        retries = [r.getMessage() for r in caplog.records if "NotLeader" in r.getMessage()]
        assert retries == [], retries[:3]
    finally:
        admin.client.delete_topics(topics)
        admin.close()


def test_group_offsets_reads_what_a_group_committed(kafka) -> None:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    settings = hub_settings(kafka)
    tag = uuid.uuid4().hex[:8]
    topic, group = f"hub.offsets{tag}", f"{settings.app_id}-offsets{tag}"
    admin = TopicAdmin(settings)
    try:
        admin.ensure([topic], partitions=2)
        consumer = KafkaConsumer(group_id=group, enable_auto_commit=False, **settings.kafka_python_config)
        try:
            consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
            consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(7, "", -1),
                             TopicPartition(topic, 1): OffsetAndMetadata(3, "", -1)})
        finally:
            consumer.close()
        assert admin.group_offsets(group) == {(topic, 0): 7, (topic, 1): 3}
        assert admin.group_offsets(f"{group}-never") == {}  # a group that never committed
    finally:
        admin.client.delete_topics([topic])
        admin.close()
