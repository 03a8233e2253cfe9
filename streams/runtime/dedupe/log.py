"""The dedupe log: the durable copy of the validation worker's dedupe state.

One topic per ingest topic, ``<app_id>-dedupe.<ingest topic>``, with the ingest topic's
partition count; partition p holds the ids accepted from ingest partition p, one
``dedupe_batch`` record (wire format) per batch. Written only after the batch's outputs were
acknowledged: a crash in between re-processes the batch (duplicates inside the crash window,
never a loss); replayed into the local :class:`~streams.runtime.dedupe.store.DedupeStore` when a
worker takes a partition over. Retention (time, not compaction: ids never repeat) is twice
the dedupe window.
"""

from __future__ import annotations

import asyncio
import time
from typing import Iterable

from gigbridge.logs import get_logger
from gigbridge.topic_policy import family
from schemas.catalog import Catalog
from schemas.wire import WireFormatError, decode, encode
from streams.runtime.dedupe.store import DedupeStore
from streams.core.plan import Delivery

log = get_logger("gigbridge.dedupe")

CONTRACT = "dedupe_batch"


def log_topic(app_id: str, ingest_topic: str) -> str:
    return f"{app_id}-dedupe.{ingest_topic}"


def log_topic_configs(window_ms: int) -> dict[str, str]:
    return family("dedupe-log").configs(window_ms)  # declared in gigbridge.topic_policy


def log_record(catalog: Catalog, app_id: str, ingest_topic: str, partition: int,
               event_ids: list[str], first_seen_ms: int) -> Delivery:
    value = encode(catalog.contract(CONTRACT).latest, {"first_seen_ms": first_seen_ms, "event_ids": event_ids},
                   validate=False)
    return Delivery("dedupe", log_topic(app_id, ingest_topic), None, value, partition=partition)


async def replay(consumer, store: DedupeStore, catalog: Catalog, app_id: str,
                 partitions: Iterable[tuple[str, int]], fetch_timeout_ms: int = 1000) -> int:
    """Bring ``store`` up to date for ingest ``partitions`` from their dedupe logs: read each
    log partition from the store's ``next_log_offset`` (or the log's earliest offset, if
    retention already deleted that far) to the end offset seen at the start. ``consumer`` is an
    aiokafka consumer without a group. Returns the number of log records applied; a record that
    does not decode is logged and skipped (it cannot be repaired, and the ids in it are at worst
    processed once more)."""
    from aiokafka import TopicPartition

    wanted = {TopicPartition(log_topic(app_id, t), p): (t, p) for t, p in partitions}
    if not wanted:
        return 0
    begins, ends = await assign_for_replay(consumer, list(wanted))
    todo = {}
    for tp, (topic, partition) in wanted.items():
        start = max(store.next_log_offset(topic, partition), begins[tp])
        store.set_next_log_offset(topic, partition, min(start, ends[tp]))
        if start < ends[tp]:
            todo[tp] = ends[tp]
    for tp in wanted:
        if tp in todo:
            consumer.seek(tp, store.next_log_offset(*wanted[tp]))
        else:
            consumer.pause(tp)  # nothing to replay: do not fetch it in the background
    applied = 0
    while todo:
        batches = await consumer.getmany(*todo, timeout_ms=fetch_timeout_ms)
        for tp, records in batches.items():
            topic, partition = wanted[tp]
            for rec in records:
                if rec.offset >= todo.get(tp, -1):
                    break
                store.apply(topic, partition, *_ids_of(catalog, rec), log_offset=rec.offset)
                applied += 1
        for tp in list(todo):
            if await consumer.position(tp) >= todo[tp]:
                store.set_next_log_offset(*wanted[tp], todo.pop(tp))
                consumer.pause(tp)
    return applied


async def assign_for_replay(consumer, tps: list) -> tuple[dict, dict]:
    """Assign ``tps`` (log partitions, perhaps just created) to a group-less consumer; returns
    their beginning and end offsets."""
    await wait_for_leaders(consumer, tps)
    consumer.assign(tps)
    return await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)


async def wait_for_leaders(consumer, tps: list, timeout_s: float = 30.0) -> None:
    """Metadata with a leader for every partition: log topics are often brand new, and
    aiokafka's offset requests fail at once (NodeNotReadyError) for a partition without one."""
    client = consumer._client  # noqa: SLF001 - aiokafka has no public "track and refresh these topics"
    for topic in {tp.topic for tp in tps}:
        client.add_topic(topic)
    deadline = time.monotonic() + timeout_s
    while True:
        await client.force_metadata_update()
        if all(client.cluster.leader_for_partition(tp) not in (None, -1) for tp in tps):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no leader for some of {sorted({tp.topic for tp in tps})}")
        await asyncio.sleep(0.2)


def _ids_of(catalog: Catalog, rec) -> tuple[list[str], int]:
    try:
        batch = decode(catalog, rec.value, expect_contract=CONTRACT).record
    except WireFormatError as exc:
        log.error("undecodable dedupe-log record skipped", topic=rec.topic, partition=rec.partition,
                  offset=rec.offset, reason=exc.reason)
        return [], 0
    return batch["event_ids"], batch["first_seen_ms"]
