"""Baseline contender: copy raw bytes from the ingest topics to one output topic, no decoding.

The same consumer fetch settings and delivery discipline as the hub (batches of up to the hub's default size,
every output acknowledged with acks=all before the batch's offsets may be committed; commits
every second), so the difference to the hub is everything the hub does per event: decode, validation, dedupe (store
and log), privacy, routing, encoding, metrics and the extra output records.

    python -m bench.passthrough --group G --target TOPIC SOURCE [SOURCE ...]

Connection from ``GIGBRIDGE_KAFKA_*`` (see ``deploy.kafka.connection.KafkaConnection.from_env``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deploy.kafka.local import KafkaConnection
from gigbridge.settings import Settings


async def copy(sources: list[str], target: str, group: str, batch: int) -> None:
    conn = KafkaConnection.from_env()
    if conn is None:
        raise SystemExit("GIGBRIDGE_KAFKA_BOOTSTRAP is not set")
    cfg = conn.kafka_python_config()
    hub = Settings(_env_file=None)  # the hub's own fetch settings: the same consumer, minus the hub
    consumer = AIOKafkaConsumer(*sources, **cfg, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False, client_id="bench-passthrough",
                                fetch_min_bytes=hub.ingest_fetch_min_bytes, fetch_max_wait_ms=hub.ingest_fetch_max_wait_ms,
                                fetch_max_bytes=hub.ingest_fetch_max_bytes, max_partition_fetch_bytes=1024 * 1024)
    producer = AIOKafkaProducer(**cfg, acks="all", linger_ms=5, client_id="bench-passthrough")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await consumer.start()
    await producer.start()
    try:
        last_commit = time.monotonic()
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=50, max_records=batch)
            if not batches:
                continue
            futures = [await producer.send(target, r.value, key=r.key)
                       for records in batches.values() for r in records]
            await asyncio.gather(*futures)
            if time.monotonic() - last_commit >= 1.0:
                await consumer.commit()
                last_commit = time.monotonic()
    finally:
        await producer.stop()
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.passthrough")
    parser.add_argument("--group", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--batch", type=int, default=Settings.model_fields["ingest_batch_size"].default,
                        help="most records per batch (default: the hub's)")
    parser.add_argument("sources", nargs="+")
    args = parser.parse_args()
    asyncio.run(copy(args.sources, args.target, args.group, args.batch))


if __name__ == "__main__":
    main()
