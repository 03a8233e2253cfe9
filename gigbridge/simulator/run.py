"""Produce simulated platform traffic to Kafka (``gigbridge simulate``, ``make run``)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Callable

from kafka import KafkaProducer

from gigbridge.divisions import default_table
from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from gigbridge.simulator.generator import SimEvent, Simulator
from gigbridge.topics_admin import TopicAdmin
from schemas.catalog import Catalog, default_catalog
from schemas.wire import encode
from streams.core.topics import ingest_topic
from streams.core.validate import CONTRACT_BY_EVENT_TYPE, EVENT_TYPES

log = get_logger("gigbridge.simulate")


def event_bytes(event: SimEvent, catalog: Catalog) -> bytes:
    """The Confluent wire-format value a stock Avro serializer would produce."""
    if event.raw is not None:
        return event.raw
    return encode(catalog.contract(CONTRACT_BY_EVENT_TYPE[event.event_type]).latest, event.record)


def ensure_platform_topics(settings: Settings, platforms: list[str]) -> None:
    admin = TopicAdmin(settings)
    try:
        admin.ensure(ingest_topic(p, t) for p in platforms for t in EVENT_TYPES)
    finally:
        admin.close()


def run_simulation(settings: Settings, *, rate: float, count: int | None = None,
                   duration_s: float | None = None, platforms: int = 3, seed: int = 42,
                   invalid_share: float = 0.05, clock: Callable[[], float] = time.time,
                   should_stop: Callable[[], bool] = lambda: False) -> Counter:
    """Produce until ``count`` events, ``duration_s`` seconds or ``should_stop()``; ``rate`` is
    events per second (0 = as fast as the producer takes them). Returns counts by verdict."""
    sim = Simulator(default_table(), seed=seed, platforms=platforms, invalid_share=invalid_share)
    catalog = default_catalog()
    ensure_platform_topics(settings, sim.platforms)
    producer = KafkaProducer(acks="all", linger_ms=5, client_id="gigbridge-simulator",
                             **settings.kafka_python_config)
    sent: Counter = Counter()
    started = clock()
    try:
        while not should_stop():
            elapsed = clock() - started
            if (count is not None and sum(sent.values()) >= count) or (duration_s and elapsed >= duration_s):
                break
            if rate > 0 and sum(sent.values()) >= elapsed * rate:
                time.sleep(min(0.05, 1 / rate))  # pacing, not a wait for a condition
                continue
            event = sim.next_event(int(clock() * 1000))
            producer.send(ingest_topic(event.platform_id, event.event_type), key=event.key.encode(),
                          value=event_bytes(event, catalog))
            sent[event.expected_reason or ("dlq" if event.raw is not None else "valid")] += 1
    finally:
        producer.flush()
        producer.close()
    log.info("simulation finished", sent=sum(sent.values()), **{k: v for k, v in sent.items()})
    return sent
