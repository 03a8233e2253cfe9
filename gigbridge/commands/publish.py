"""``gigbridge validate FILE`` (offline) and ``gigbridge publish FILE`` (validated, then produced).

Both run the stream's own validation (``classify_json``, with the worker's rules from
``streams.context.build_context``: ``GIGBRIDGE_MAX_FUTURE_SKEW_S`` and
``GIGBRIDGE_MAX_EVENT_AGE_DAYS`` apply) on every line and print one JSON verdict per line; ``publish`` produces the accepted events (acks=all, Confluent wire format)
to ``platform.<id>.<type>`` and reports only what the broker acknowledged as published.
Exit code 0 when every line was accepted, 1 when some were rejected. On a terminal, stderr shows
a live progress line (tqdm); the run ends with a JSON summary line on stderr either way.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import TextIO

from tqdm import tqdm

from gigbridge.commands.jsonlines import read_lines
from gigbridge.settings import Settings
from schemas.wire import encode
from streams.core.classify import Accepted, classify_json
from streams.context import build_context
from streams.core.topics import ingest_topic


class Progress:
    """Progress of a run: on a terminal a live tqdm line (events done, rate, accepted, rejected);
    elsewhere (a pipe, a CI log) nothing until :meth:`summary`, one JSON line at the end."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None,
                 clock=time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.clock = clock
        self.started = clock()
        self.bar = tqdm(file=self.stream, unit=" events", desc="publish", disable=not self.interactive,
                        dynamic_ncols=True, mininterval=0.1, leave=True)

    def show(self, verdicts: Counter) -> None:
        """One more line handled; ``verdicts`` counts ``accepted`` and each rejection reason."""
        accepted = verdicts["accepted"]
        self.bar.set_postfix(accepted=accepted, rejected=sum(verdicts.values()) - accepted, refresh=False)
        self.bar.update(1)

    def done(self) -> None:
        self.bar.close()

    def summary(self, accepted: int, reasons: Counter) -> None:
        seconds = max(self.clock() - self.started, 1e-9)
        rejected = sum(reasons.values())
        print(json.dumps({"summary": {"accepted": accepted, "rejected": rejected, "reasons": dict(reasons),
                                      "seconds": round(seconds, 3),
                                      "events_per_s": round((accepted + rejected) / seconds, 1)}}),
              file=self.stream)


def run(settings: Settings, path: str, fixed_type: str | None, platform: str | None, produce: bool,
        progress: Progress | None = None) -> int:
    ctx = build_context(settings, validate_only=True)
    now_ms = time.time_ns() // 1_000_000
    verdicts: Counter = Counter()
    progress = progress if progress is not None else Progress()
    producer = None
    pending = []
    if produce:
        from kafka import KafkaProducer

        from gigbridge.broker_errors import client_config

        producer = KafkaProducer(acks="all", linger_ms=5, client_id="gigbridge-publish", **client_config(settings))
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
    progress.summary(accepted, verdicts)
    return 1 if verdicts else 0
