"""Reading a whole topic as it is now: every record of every partition, from the beginning to the
end offsets taken at the start (later records are not waited for). For CLI commands and tests."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition


def read_to_end(client_config: dict, topic: str, timeout_ms: int = 1500) -> list:
    """kafka-python ``ConsumerRecord``s of ``topic`` (empty if it does not exist)."""
    consumer = KafkaConsumer(enable_auto_commit=False, consumer_timeout_ms=timeout_ms, **client_config)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=timeout_ms).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()
