"""What the health probe and the lag gauge know about the validation stream: the position of
every subscribed ingest partition (the furthest of the group's committed offset, the next
offset this worker will process and the earliest offset still in the log) and the lag of the
partitions this worker owns."""

from __future__ import annotations

import asyncio

from gigbridge.settings import Settings
from streams.runtime import metrics
from streams.runtime.health import KafkaProbe, WorkerHealth
from streams.runtime.loop import BatchLoop


class IngestMonitor:
    """``next_offsets`` is the validation step's (``(topic, partition)`` -> next offset to
    process); the probe is made when :meth:`watch` runs (no I/O before)."""

    def __init__(self, settings: Settings, health: WorkerHealth, ingest: BatchLoop,
                 next_offsets: dict[tuple[str, int], int]) -> None:
        self.settings, self.health, self.ingest, self.next_offsets = settings, health, ingest, next_offsets
        self.probe = KafkaProbe(settings.aiokafka_config)  # replaced once the app runs (watch)
        health.partitions = self.positions

    def positions(self) -> dict:
        """(position, end offset) of every subscribed ingest partition as the probe last saw them."""
        probe = self.probe
        return {key: (max(self.next_offsets.get(key, 0), probe.committed.get(key, 0), probe.begin_offsets.get(key, 0)),
                      end) for key, end in probe.end_offsets.items()}

    async def watch(self) -> None:
        """The health loops (heartbeat, Kafka probe); an app task, so it starts once Faust is up.
        (``health.started`` is set by the worker once its stores are open and its loops run.)"""
        self.probe = probe = KafkaProbe(self.settings.aiokafka_config, self.ingest.group_id,
                                        self.ingest.subscribed_topics)
        try:
            await asyncio.gather(self.health.heartbeat(), self.health.probe_kafka(probe))
        finally:
            await probe.close()

    async def measure_lag(self) -> None:
        """Lag per ingest topic: the partition's high watermark minus the next offset this worker
        will process, summed over the partitions it owns and has read from."""
        consumer = self.ingest.consumer
        lag: dict[str, int] = {}
        for tp in consumer.assignment():
            next_offset = self.next_offsets.get((tp.topic, tp.partition))
            if next_offset is None:
                continue
            end = consumer.highwater(tp)
            if end is not None:
                lag[tp.topic] = lag.get(tp.topic, 0) + max(0, end - next_offset)
        for topic, value in lag.items():
            metrics.CONSUMER_LAG.labels(topic).set(value)
