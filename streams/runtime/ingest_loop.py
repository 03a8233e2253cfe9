"""The validation stream on the batch loop (``streams.runtime``): one consumer in group
``<app_id>-ingest``, subscribed by pattern to every ``platform.<id>.<type>`` topic (a newly
onboarded platform's topics are picked up at the next metadata refresh,
``topic_discovery_interval_s``), batches of up to ``ingest_batch_size`` records,
``stream_pipeline_depth`` of them in flight, the dedupe state as the checkpoint's state step.
Faust's stream machinery is not on this path (it cost more per event than all of the hub's own
work, see docs/performance.md)."""

from __future__ import annotations

from typing import Callable, ContextManager

from gigbridge.settings import Settings
from streams.runtime.broker.kafka import KafkaConsumer
from streams.runtime.checkpoint import State
from streams.runtime.loop import BatchLoop, LoopConfig, PartitionsCallback, Step

INGEST_PATTERN = r"^platform\.[a-z][a-z0-9-]{1,31}\.(sites|headcounts|incidents|orders)$"


def ingest_group(settings: Settings) -> str:
    return f"{settings.app_id}-ingest"


def ingest_consumer(settings: Settings) -> KafkaConsumer:
    s = settings
    return KafkaConsumer(ingest_group(s), {
        "metadata_max_age_ms": int(s.topic_discovery_interval_s * 1000), "max_partition_fetch_bytes": 1024 * 1024,
        "fetch_max_bytes": s.ingest_fetch_max_bytes, "fetch_min_bytes": s.ingest_fetch_min_bytes,
        "fetch_max_wait_ms": s.ingest_fetch_max_wait_ms, **s.aiokafka_config})


def ingest_loop(settings: Settings, step: Step, state: State, assigned: PartitionsCallback,
                batch_scope: Callable[[], ContextManager], consumer=None) -> BatchLoop:
    config = LoopConfig("ingest", pattern=INGEST_PATTERN, batch_size=settings.ingest_batch_size,
                        batch_timeout_s=settings.stream_batch_timeout_s,
                        pipeline_depth=settings.stream_pipeline_depth)
    return BatchLoop(config, consumer or ingest_consumer(settings), step, state, assigned=assigned,
                     batch_scope=batch_scope)
