"""Kafka plumbing of the benchmark: topic reset/creation, a backlog producer, a paced producer
that records each record's send time (both librdkafka, ``bench.load``), offset polling and range
reads (aiokafka).

Timestamps: ingest topics keep ``CreateTime`` (the record's timestamp is its send time, set
explicitly by :meth:`Kafka.produce_paced`); every output topic is pre-created with
``message.timestamp.type=LogAppendTime``, so an output's timestamp is the moment the broker
appended it (the hub only creates topics that do not exist yet, so it keeps ours).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import load

from bench.common import partitions_of, say

LOG_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}
CREATE_TIME = {"message.timestamp.type": "CreateTime"}


@dataclass(frozen=True, slots=True)
class Sent:
    """Where one produced record landed and when it was sent (epoch ms)."""

    topic: str
    partition: int
    offset: int
    ts: int


def tps_of(topics: Iterable[str]) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t in topics for p in range(partitions_of(t))]


class Kafka:
    """One admin client and one offset-polling consumer for the whole run."""

    def __init__(self, conn) -> None:
        self.cfg = conn.kafka_python_config()
        self.rdkafka = load.rdkafka_connection(conn)  # the same connection for librdkafka producers
        self.admin = AIOKafkaAdminClient(**self.cfg, request_timeout_ms=60_000)
        self.offsets = AIOKafkaConsumer(**self.cfg, group_id=None, enable_auto_commit=False)

    async def __aenter__(self) -> "Kafka":
        await self.admin.start()
        await self.offsets.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.offsets.stop()
        await self.admin.close()

    # --- topics ---------------------------------------------------------------------------

    async def prepare_topics(self, ingest: Iterable[str], outputs: Iterable[str], timeout: float = 180) -> dict:
        """Fresh ingest topics (CreateTime) and output topics (LogAppendTime) for a run.

        Ingest topics and the internal topics of earlier benchmark apps (``bench-*``) are deleted
        and recreated: the hub consumes every ``platform.<id>.<type>`` topic it finds from the
        beginning. Output topics are kept across runs (creating some 350 topics costs more than
        the quick benchmark may take); every measurement reads only the offsets written during
        it. Their ``retention.ms`` is one hour, so old runs' records do not pile up. An output
        topic kept from an earlier layout (another partition count) is recreated."""
        ingest, outputs = sorted(set(ingest)), sorted(set(outputs))
        existing = set(await self.admin.list_topics())
        kept = sorted(set(outputs) & existing)
        relaid = {t["topic"] for i in range(0, len(kept), 500) for t in await self.admin.describe_topics(kept[i:i + 500])
                  if t["error_code"] == 0 and len(t["partitions"]) != partitions_of(t["topic"])}
        doomed = sorted(t for t in existing if t in set(ingest) or t.startswith("bench-") or t in relaid)
        for i in range(0, len(doomed), 200):
            await self.admin.delete_topics(doomed[i:i + 200], timeout_ms=60_000)
        deadline = time.monotonic() + timeout
        while doomed:
            existing = set(await self.admin.list_topics())
            if not existing & set(doomed):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(existing & set(doomed))} topics still exist {timeout:.0f}s after deletion")
            await asyncio.sleep(0.2)
        missing_outputs = [t for t in outputs if t not in existing or t in relaid]
        await self.create_topics(ingest, CREATE_TIME)
        await self.create_topics(missing_outputs, {**LOG_APPEND_TIME, "retention.ms": "3600000",
                                                   "segment.ms": "600000"})
        return {"deleted": len(doomed), "created": len(ingest) + len(missing_outputs),
                "reused_outputs": len(outputs) - len(missing_outputs)}

    async def create_topics(self, names: Iterable[str], configs: dict[str, str]) -> None:
        names = sorted(set(names))
        for i in range(0, len(names), 200):
            chunk = [NewTopic(n, partitions_of(n), 1, topic_configs=dict(configs)) for n in names[i:i + 200]]
            response = await self.admin.create_topics(chunk, timeout_ms=60_000)
            errors = [(t[0], t[1]) for t in response.topic_errors if t[1] not in (0, 36)]  # 36: exists
            if errors:
                raise RuntimeError(f"topic creation failed: {errors[:5]}")
        # Wait until every new partition has a leader (a producer would otherwise stall on them).
        deadline = time.monotonic() + 60
        pending = set(names)
        while pending:
            described = await self.admin.describe_topics(sorted(pending)[:500])
            for t in described:
                if t["error_code"] == 0 and len(t["partitions"]) == partitions_of(t["topic"]) and all(
                        p["leader"] >= 0 for p in t["partitions"]):
                    pending.discard(t["topic"])
            if pending:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{len(pending)} new topics have no leader after 60s")
                await asyncio.sleep(0.2)

    # --- offsets ----------------------------------------------------------------------------

    async def end_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        out: dict[TopicPartition, int] = {}
        for i in range(0, len(tps), 1000):
            out.update(await self.offsets.end_offsets(list(tps[i:i + 1000])))
        return out

    async def total(self, tps: Sequence[TopicPartition]) -> int:
        return sum((await self.end_offsets(tps)).values())

    # --- producing ----------------------------------------------------------------------------

    async def produce_backlog(self, records: Sequence[tuple[str, bytes, bytes]]) -> float:
        """Send (topic, key, value) records as fast as the producer takes them; returns seconds."""
        return await load.produce_backlog(self.rdkafka, records)

    async def produce_paced(self, records: Sequence[tuple[str, bytes, bytes]], rate: float,
                            tick: float = 0.005) -> tuple[list[Sent], float]:
        """Send records at ``rate`` per second (small bursts every ``tick`` s) like a platform's
        producer would (librdkafka, acks=all, linger 5 ms); each record's timestamp is its send
        time. Returns where every record landed and the seconds production took."""
        stamps = []
        with load.PlatformLoad(self.rdkafka, "bench-load", track=True) as producer:
            producer.warm(topic for topic, _, _ in records)
            started = time.monotonic()
            i, n = 0, len(records)
            while i < n:
                due = min(n, int((time.monotonic() - started) * rate) + 1)
                while i < due:
                    topic, key, value = records[i]
                    ts = time.time_ns() // 1_000_000
                    producer.send(topic, key, value, timestamp_ms=ts)
                    stamps.append(ts)
                    i += 1
                producer.poll()
                await asyncio.sleep(tick)
            await producer.drain()
            took = time.monotonic() - started
        if producer.errors:
            raise RuntimeError(f"the broker refused {producer.errors:,} of {n:,} paced records")
        return [Sent(*producer.landed[i], ts) for i, ts in enumerate(stamps)], took

    # --- reading ------------------------------------------------------------------------------

    async def read(self, ranges: dict[TopicPartition, tuple[int, int]], stall_timeout: float = 30) -> list:
        """Every record in [start, end) of each partition (ConsumerRecords, in partition order)."""
        todo = {tp: (s, e) for tp, (s, e) in ranges.items() if e > s}
        if not todo:
            return []
        consumer = AIOKafkaConsumer(**self.cfg, group_id=None, enable_auto_commit=False,
                                    max_partition_fetch_bytes=4 * 1024 * 1024,
                                    fetch_max_bytes=64 * 1024 * 1024)
        await consumer.start()
        records: list = []
        try:
            consumer.assign(list(todo))
            for tp, (start, _) in todo.items():
                consumer.seek(tp, start)
            last_progress = time.monotonic()
            while todo:
                batches = await consumer.getmany(timeout_ms=500, max_records=20_000)
                for tp, batch in batches.items():
                    if tp not in todo:
                        continue
                    end = todo[tp][1]
                    records.extend(r for r in batch if r.offset < end)
                    if batch and batch[-1].offset >= end - 1:
                        del todo[tp]
                        consumer.pause(tp)
                    last_progress = time.monotonic()
                if time.monotonic() - last_progress > stall_timeout:
                    say(f"warning: reading stalled with {len(todo)} partitions unfinished")
                    break
        finally:
            await consumer.stop()
        return records
