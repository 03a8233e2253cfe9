"""``gigbridge dlq redrive TOPIC``: re-submit dead-lettered or rejected records after a fix.

Works on every failure topic the hub writes, because each record names its source:
``hub.dlq`` (DeadLetter: carries the original bytes), ``platform.<id>.rejected``
(RejectionRecord: never carries the value, so the original is re-read from its source
topic/partition/offset) and ``gov.*.dlq`` (SinkDeadLetter: re-read from the routed topic, so
the delivery agent sends it again with the same Idempotency-Key). The original key and bytes
are produced again to the source topic. ``--dry-run`` only counts. Re-driving an event that
was accepted in the meantime is harmless: the hub's dedupe drops repeats of an event_id.
"""

from __future__ import annotations

import json
from collections import Counter

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from gigbridge.broker_errors import client_config
from gigbridge.settings import Settings
from schemas.catalog import default_catalog
from schemas.wire import WireFormatError, decode


def _read_all(consumer: KafkaConsumer, topic: str):
    partitions = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    if not tps:
        return
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    ends = consumer.end_offsets(tps)
    while any(consumer.position(tp) < ends[tp] for tp in tps):
        for batch in consumer.poll(timeout_ms=2000).values():
            yield from batch


def _fetch(consumer: KafkaConsumer, topic: str, partition: int, offset: int):
    """The message at (topic, partition, offset), or None if retention removed it."""
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek(tp, offset)
    for batch in consumer.poll(timeout_ms=5000, max_records=1).values():
        for message in batch:
            if message.offset == offset:
                return message
    return None


def run(settings: Settings, topic: str, reasons: list[str], dry_run: bool) -> int:
    catalog = default_catalog()
    cfg = client_config(settings)
    reader = KafkaConsumer(enable_auto_commit=False, client_id="gigbridge-redrive-scan", **cfg)
    fetcher = KafkaConsumer(enable_auto_commit=False, client_id="gigbridge-redrive-fetch", **cfg)
    producer = None if dry_run else KafkaProducer(acks="all", client_id="gigbridge-redrive", **cfg)
    counts: Counter = Counter()
    futures = []
    try:
        for message in list(_read_all(reader, topic)):
            try:
                record = decode(catalog, message.value or b"").record
            except WireFormatError:
                counts["skipped_undecodable"] += 1
                continue
            if reasons and record.get("reason") not in reasons:
                counts["skipped_other_reason"] += 1
                continue
            target = record["source_topic"]
            if "original_value" in record:
                key, value = record.get("original_key"), record.get("original_value")
            else:
                original = _fetch(fetcher, target, record["source_partition"], record["source_offset"])
                if original is None:
                    counts["source_gone"] += 1
                    continue
                key, value = original.key, original.value
            counts[f"{record.get('reason')} -> {target}"] += 1
            if producer is not None:
                futures.append(producer.send(target, key=key, value=value))
        if producer is not None:
            producer.flush()
            for future in futures:
                future.get(timeout=30)
    finally:
        reader.close()
        fetcher.close()
        if producer is not None:
            producer.close()
    resubmitted = sum(n for k, n in counts.items() if "->" in k)
    print(json.dumps({"topic": topic, "dry_run": dry_run, "resubmitted": 0 if dry_run else resubmitted,
                      "would_resubmit": resubmitted if dry_run else None, "counts": dict(counts)}, indent=2))
    return 0
