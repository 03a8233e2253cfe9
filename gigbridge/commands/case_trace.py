"""``gigbridge cases trace CASE_ID``: one concern case's path through the hub, as the records on each
topic -- the sender's input, the validated copy keyed by case_id, every state the owner fanned out to
units, the platform and ``hub.cases.state``, and any rejection -- in the order the broker stamped them.

For operators answering "where is this case?" and for showing a case's full path. Reads only the
case topics (low volume), each from the beginning to its end at the time of the call, with the hub's
connection settings.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Iterable, NamedTuple

from kafka import KafkaConsumer

from gigbridge.broker_errors import client_config
from gigbridge.commands.topic_read import read_to_end
from gigbridge.settings import Settings
from schemas.catalog import Catalog, default_catalog
from schemas.wire import WireFormatError, decode

#: Every topic a case's records can be on (inputs, the hub's copies and state, fan-out, refusals).
CASE_TOPIC_RE = re.compile(r"platform\.[a-z0-9-]+\.(cases|case-events|case-updates|case-rejections)"
                           r"|gov\.units\.[a-z0-9-]+\.(case-events|case-updates|case-rejections)"
                           r"|hub\.validated\.(cases|case-events)|hub\.cases\.state|hub\.units\.gateway")


class TracedRecord(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp: int
    record: dict


def case_topics(topics: Iterable[str]) -> list[str]:
    return sorted(t for t in topics if CASE_TOPIC_RE.fullmatch(t))


def trace(records: Iterable[TracedRecord], case_id: str) -> list[TracedRecord]:
    """The records of ``case_id``, by broker timestamp (ties: topic, partition, offset)."""
    found = [r for r in records if r.record.get("case_id") == case_id]
    return sorted(found, key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))


def _decoded(catalog: Catalog, topic: str, messages) -> Iterable[TracedRecord]:
    for m in messages:
        try:
            yield TracedRecord(topic, m.partition, m.offset, m.timestamp, decode(catalog, m.value or b"").record)
        except WireFormatError:
            continue  # not a case record: nothing of this case's path


def run(settings: Settings, case_id: str) -> int:
    config = {**client_config(settings), "client_id": "gigbridge-case-trace"}
    lister = KafkaConsumer(**config)
    try:
        topics = case_topics(lister.topics())
    finally:
        lister.close()
    catalog = default_catalog()
    records = [r for t in topics for r in _decoded(catalog, t, read_to_end(config, t, timeout_ms=3000))]
    path = trace(records, case_id)
    for r in path:
        print(json.dumps({"topic": r.topic, "partition": r.partition, "offset": r.offset, "timestamp": r.timestamp,
                          "record": r.record}, ensure_ascii=False), flush=True)
    print(f"{len(path)} records of case {case_id} on {len({r.topic for r in path})} topics", file=sys.stderr)
    return 0 if path else 1
