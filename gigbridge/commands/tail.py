"""``gigbridge tail TOPIC``: consume a hub topic and print each record as decoded JSON.

Starts at the beginning, the end, or the first record at/after a timestamp; ``--division``
keeps records whose ``division_code`` starts with a prefix (e.g. a county's 6 digits).
Bytes that are not in the wire format are printed as a ``{"undecodable": ...}`` line.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import datetime

from kafka import KafkaConsumer, TopicPartition

from gigbridge.broker_errors import client_config
from gigbridge.settings import Settings
from schemas.catalog import default_catalog
from schemas.wire import WireFormatError, decode


def _json_default(value):
    if isinstance(value, bytes):
        return {"$base64": base64.b64encode(value).decode()}
    raise TypeError(type(value).__name__)


def parse_start(start: str) -> str | int:
    """'beginning' | 'end' | an ISO-8601 timestamp -> epoch ms."""
    if start in ("beginning", "end"):
        return start
    try:
        moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--from takes beginning, end or an ISO-8601 timestamp, not {start!r}") from None
    return int(moment.timestamp() * 1000)


def run(settings: Settings, topic: str, start: str, division: str | None, limit: int | None,
        idle_timeout_s: float | None) -> int:
    where = parse_start(start)
    catalog = default_catalog()
    consumer = KafkaConsumer(enable_auto_commit=False, client_id="gigbridge-tail",
                             consumer_timeout_ms=int(idle_timeout_s * 1000) if idle_timeout_s else float("inf"),
                             **client_config(settings))
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            print(f"gigbridge: no such topic: {topic}", file=sys.stderr)
            return 2
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if where == "beginning":
            consumer.seek_to_beginning(*tps)
        elif where == "end":
            consumer.seek_to_end(*tps)
        else:
            offsets = consumer.offsets_for_times({tp: where for tp in tps})
            for tp in tps:
                found = offsets.get(tp)
                if found is None:
                    consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, found.offset)
        shown = 0
        for message in consumer:
            try:
                decoded = decode(catalog, message.value or b"")
                record = decoded.record
                line = {"topic": message.topic, "partition": message.partition, "offset": message.offset,
                        "timestamp": message.timestamp, "schema_id": decoded.schema_id, "record": record}
            except WireFormatError as exc:
                record = {}
                line = {"topic": message.topic, "partition": message.partition, "offset": message.offset,
                        "undecodable": exc.reason}
            if division and not str(record.get("division_code", "")).startswith(division):
                continue
            print(json.dumps(line, ensure_ascii=False, default=_json_default), flush=True)
            shown += 1
            if limit is not None and shown >= limit:
                break
        return 0
    finally:
        consumer.close()
