"""The benchmark's platform side: input records written with librdkafka (confluent-kafka), the
stock client most platforms produce with, as a backlog or at a paced rate.

Why not aiokafka here: the load generator shares the 2 cores with the broker and the contender
it feeds. aiokafka costs ~185 µs of Python per record sent one by one (~37 % of a core at 2,000
records/s), CPU the contender then waits for; librdkafka does the same work in C. A platform's
producers run on its own machines, so the less of this machine the load takes, the closer the
measurement is to the hub's.

Records are keyed and partitioned like the Java client's (``murmur2_random``), acks=all,
CreateTime = the moment each record is handed to the producer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Sequence

from bench.common import say

Record = tuple[str, bytes, bytes]  # (topic, key, value)


def rdkafka_connection(conn) -> dict:
    """librdkafka ``bootstrap.servers`` and security properties of a ``KafkaConnection`` (SASL and
    TLS through gigbridge.kafka_tls, the builder every other client uses)."""
    return {"bootstrap.servers": conn.bootstrap, **conn.security().rdkafka_config()}


def rdkafka_config(connection: dict, **overrides) -> dict:
    """librdkafka settings of a platform's producer on ``connection`` (see :func:`rdkafka_connection`)."""
    out = {**connection, "acks": "all", "linger.ms": 5, "partitioner": "murmur2_random", "enable.idempotence": False,
           # As the Java client does (TCP_NODELAY): librdkafka leaves Nagle on, which holds small
           # requests back for the peer's delayed ACK (~40 ms on loopback).
           "socket.nagle.disable": True}
    out.update(overrides)
    return out


class PlatformLoad:
    """One librdkafka producer. ``send`` never blocks the event loop (a full local queue is
    drained by polling); ``errors`` counts records the broker did not take; every record's
    (topic, partition, offset) is kept when ``track`` is set."""

    def __init__(self, connection: dict, client_id: str, track: bool = False, **overrides) -> None:
        self.config = rdkafka_config(connection, **{"client.id": client_id, **overrides})
        self.track = track
        self.landed: dict[int, tuple[str, int, int]] = {}
        self.errors = 0
        self.sent = 0
        self._producer = None

    def __enter__(self) -> "PlatformLoad":
        from confluent_kafka import Producer

        self._producer = Producer(self.config)
        return self

    def __exit__(self, *exc) -> None:
        self._producer.flush(30)

    def warm(self, topics) -> None:
        """Connect and learn every topic's leaders now, so the first records sent to a topic do
        not wait for a metadata round trip (a platform's producer is long-lived)."""
        for topic in sorted(set(topics)):
            self._producer.list_topics(topic, timeout=10)

    def send(self, topic: str, key: bytes, value: bytes, timestamp_ms: int | None = None) -> None:
        index = self.sent
        on_delivery = (lambda err, msg: self._done(index, err, msg)) if self.track else self._count_error
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=on_delivery,
                                       timestamp=timestamp_ms or 0)
                break
            except BufferError:  # local queue full: let deliveries drain it
                self._producer.poll(0.05)
        self.sent += 1

    def poll(self) -> None:
        self._producer.poll(0)

    async def drain(self, timeout: float = 60) -> None:
        """Wait (without blocking the loop) until every record sent so far is acknowledged."""
        deadline = time.monotonic() + timeout
        while len(self._producer) and time.monotonic() < deadline:
            self._producer.poll(0)
            await asyncio.sleep(0.005)
        if len(self._producer):
            raise RuntimeError(f"{len(self._producer)} records not acknowledged after {timeout:.0f}s")
        if self.errors:
            say(f"warning: the broker refused {self.errors:,} of {self.sent:,} records")

    def _count_error(self, err, _msg) -> None:
        if err is not None:
            self.errors += 1

    def _done(self, index: int, err, msg) -> None:
        if err is not None:
            self.errors += 1
        else:
            self.landed[index] = (msg.topic(), msg.partition(), msg.offset())


async def produce_backlog(connection: dict, records: Sequence[Record]) -> float:
    """Send (topic, key, value) records as fast as the producer takes them; returns seconds."""
    started = time.monotonic()
    with PlatformLoad(connection, "bench-backlog", **{"linger.ms": 20, "batch.size": 256 * 1024,
                                                             "queue.buffering.max.messages": 200_000}) as load:
        for i, (topic, key, value) in enumerate(records):
            load.send(topic, key, value)
            if i % 1000 == 0:
                load.poll()
        await load.drain(timeout=300)
    return time.monotonic() - started
