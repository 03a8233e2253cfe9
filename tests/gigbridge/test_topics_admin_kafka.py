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
