"""Kafka edges of the CAP intake: read every published WeatherNotice, publish records.

Notices are low-volume (a few warnings an hour), so the registry is rebuilt by reading the
``gov.notices.<province>`` topics from the start on every intake: correct whichever gateway
replica or CLI run received the earlier messages of a chain, at the cost of one short read.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections import defaultdict
from typing import Any, Callable, Mapping, Sequence

from aiokafka import AIOKafkaProducer
from kafka import KafkaConsumer, TopicPartition

from schemas.catalog import Catalog
from schemas.wire import WireFormatError, decode
from streams.runtime.notices.intake import CapIntake, Publish

NOTICE_TOPIC_RE = re.compile(r"gov\.notices\.\d{2}")


async def read_weather_notices(kafka_python_config: Mapping[str, Any], catalog: Catalog,
                               timeout_s: float = 30.0) -> list[dict]:
    """Every decodable WeatherNotice on ``gov.notices.<province>``, up to the end offsets at the
    time of the call (each partition in order). Raises TimeoutError past ``timeout_s``."""
    messages = await asyncio.to_thread(read_to_end, kafka_python_config, NOTICE_TOPIC_RE.fullmatch, timeout_s)
    return _decoded(catalog, messages)


def read_to_end(config: Mapping[str, Any], wanted: Callable[[str], object], timeout_s: float) -> list:
    """Every record of the topics ``wanted`` accepts, from the start to the end offsets at the
    time of the call (blocking: kafka-python, whose partitions_for_topic fetches metadata)."""
    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None, **config)
    deadline = time.monotonic() + timeout_s
    try:
        topics = sorted(t for t in consumer.topics() if wanted(t))
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        messages: list = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{', '.join(topics)} not read within {timeout_s:g} s")
            for batch in consumer.poll(timeout_ms=500).values():
                messages += batch
        return messages
    finally:
        consumer.close()


def _decoded(catalog: Catalog, messages) -> list[dict]:
    out = []
    for message in messages:
        try:
            out.append(decode(catalog, message.value or b"", expect_contract="weather_notice").record)
        except WireFormatError:
            continue  # the hub writes these topics; anything else was not a notice
    return out


def grouped_by_topic(records: Sequence[tuple[str, bytes, bytes]]) -> dict[str, list[tuple[bytes, bytes]]]:
    by_topic: dict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
    for topic, key, value in records:
        by_topic[topic].append((key, value))
    return dict(by_topic)


async def publish_once(kafka_config: Mapping[str, Any], records: Sequence[tuple[str, bytes, bytes]]) -> None:
    """Send ``records`` with an idempotent acks=all producer and wait for every acknowledgement
    (the command line's publisher; the gateway uses its own running producer)."""
    producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **kafka_config)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for topic, key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def kafka_intake(settings: Any, division_exists: Callable[[str], bool], publish: Publish | None = None) -> CapIntake:
    """A :class:`CapIntake` on the cluster of ``settings``: reads the published notices, creates a
    province's notice topic when first needed, then ``publish`` (default :func:`publish_once`)."""
    from gigbridge.topics_admin import TopicAdmin
    from schemas.catalog import default_catalog
    from streams.loaders.notices import load_cap_schema

    catalog = default_catalog()
    config = settings.aiokafka_config
    send = publish or functools.partial(publish_once, config)

    def ensure(topics: list[str]) -> None:
        admin = TopicAdmin(settings)
        try:
            admin.ensure(topics)
        finally:
            admin.close()

    async def ensure_then_publish(records: Sequence[tuple[str, bytes, bytes]]) -> None:
        await asyncio.to_thread(ensure, sorted({topic for topic, _, _ in records}))
        await send(records)

    return CapIntake(schema=load_cap_schema, division_exists=division_exists, catalog=catalog,
                     read_published=functools.partial(read_weather_notices, settings.kafka_python_config, catalog),
                     publish=ensure_then_publish)
