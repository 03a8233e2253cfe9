"""``gigbridge validate FILE`` (offline) and ``gigbridge publish FILE`` (validated, then produced).

Both run the stream's own validation (``classify_json``, with the worker's rules from
``streams.context.build_context``: ``GIGBRIDGE_MAX_FUTURE_SKEW_S`` and
``GIGBRIDGE_MAX_EVENT_AGE_DAYS`` apply) on every line and print one JSON verdict per line; ``publish`` produces the accepted events (acks=all, Confluent wire format)
to ``platform.<id>.<type>`` and reports only what the broker acknowledged as published.
Exit code 0 when every line was accepted, 1 when some were rejected.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

from gigbridge.commands.jsonlines import read_lines
from gigbridge.settings import Settings
from schemas.wire import encode
from streams.classify import Accepted, classify_json
from streams.context import build_context
from streams.topics import ingest_topic


class Progress:
    """A one-line counter on a terminal; silent otherwise."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def show(self, verdicts: Counter) -> None:
        now = time.monotonic()
        if self.enabled and now - self.last > 0.1:
            self.last = now
            print(f"\r{verdicts['accepted']} accepted, {sum(verdicts.values()) - verdicts['accepted']} rejected",
                  end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def run(settings: Settings, path: str, fixed_type: str | None, platform: str | None, produce: bool) -> int:
    ctx = build_context(settings, validate_only=True)
    now_ms = time.time_ns() // 1_000_000
    verdicts: Counter = Counter()
    progress = Progress()
    producer = None
    pending = []
    if produce:
        from kafka import KafkaProducer

        producer = KafkaProducer(acks="all", linger_ms=5, client_id="gigbridge-publish",
                                 **settings.kafka_python_config)
    try:
        for line in read_lines(path, fixed_type):
            if line.error:
                verdicts[line.error] += 1
                print(json.dumps({"line": line.number, "verdict": "rejected", "reason": line.error}))
                continue
            owner = platform or (line.event.get("platform_id") if isinstance(line.event, dict) else None)
            outcome = classify_json(line.event, line.event_type, ctx, now_ms,
                                    topic_platform=owner if produce else None)
            if isinstance(outcome, Accepted):
                verdicts["accepted"] += 1
                if producer is not None:
                    future = producer.send(ingest_topic(owner, line.event_type),
                                           key=str(outcome.record.get("site_id") or outcome.event_id).encode(),
                                           value=encode(outcome.version, outcome.record))
                    pending.append((line.number, outcome.event_id, future))
                else:
                    print(json.dumps({"line": line.number, "verdict": "accepted", "event_id": outcome.event_id}))
            else:
                r = outcome.rejection
                verdicts[r.reason] += 1
                print(json.dumps({"line": line.number, "verdict": "rejected", "reason": r.reason,
                                  "field": r.field, "message": r.message}))
            progress.show(verdicts)
        if producer is not None:
            producer.flush()
            for number, event_id, future in pending:
                future.get(timeout=30)  # raises if the broker did not take it: never report it published
                print(json.dumps({"line": number, "verdict": "published", "event_id": event_id}))
    finally:
        progress.done()
        if producer is not None:
            producer.close()
    accepted = verdicts.pop("accepted", 0)
    print(json.dumps({"summary": {"accepted": accepted, "rejected": sum(verdicts.values()),
                                  "reasons": dict(verdicts)}}), file=sys.stderr)
    return 1 if verdicts else 0
