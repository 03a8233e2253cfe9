"""One ingest message in, one outcome out: decoding and validation, pure.

:func:`classify` decodes the Confluent wire format, checks the business rules and says what the
message became; :func:`classify_json` does the same for a JSON-shaped event (HTTP gateway,
``gigbridge validate``). Neither does I/O or keeps state (duplicates are found afterwards, by
the batch planner with the worker's dedupe store: ``streams.core.plan``), so the worker, the
gateway, the CLI and the tests all judge an event the same way, with the same
:class:`streams.context.Context`.

An ``Outcome`` is data: ``Accepted`` (goes on to routing), ``Rejected`` (a rejection record
for the platform), ``DeadLettered`` (bytes that could not be decoded at all). The functions at
the end make the records the hub writes for the last two.
"""

from __future__ import annotations

from typing import NamedTuple

from schemas.catalog import SchemaVersion
from schemas.wire import WireFormatError, decode
from streams.core.context import Context
from streams.core.cover.orders import check_order_cover
from streams.core.topics import IngestTopic
from streams.core.validate import CONTRACT_BY_EVENT_TYPE, Rejection, check_rules, check_schema


class Source(NamedTuple):
    """Where a message came from (used in rejection and dead-letter records)."""

    topic: str
    partition: int
    offset: int


class Accepted(NamedTuple):
    event_type: str
    record: dict
    version: SchemaVersion
    raw: bytes | None = None  # the platform's own wire bytes, when they already are ``version``'s

    @property
    def event_id(self) -> str:
        return self.record["event_id"]


class Rejected(NamedTuple):
    rejection: Rejection
    event_type: str
    event_id: str | None
    platform_id: str | None
    schema_id: int | None


class DeadLettered(NamedTuple):
    reason: str
    message: str


Outcome = Accepted | Rejected | DeadLettered


_WIRE_MESSAGES = {
    "empty": "the message has no value",
    "truncated": "shorter than the 5-byte Confluent wire-format header",
    "bad_magic_byte": "first byte is not the Confluent wire-format magic byte 0",
    "unknown_schema_id": "schema id is not in the hub's catalog",
    "avro_decode_error": "bytes do not decode with the schema their header names",
}


def classify(data: bytes | None, topic: IngestTopic, ctx: Context, now_ms: int) -> Outcome:
    """Decode and validate one message from ``platform.<id>.<type>``."""
    contract = CONTRACT_BY_EVENT_TYPE[topic.event_type]
    try:
        decoded = decode(ctx.catalog, data or b"", expect_contract=contract)
    except WireFormatError as exc:
        if exc.reason == "wrong_contract":
            return Rejected(
                Rejection("wrong_event_type", None,
                          f"schema id names another contract than {contract} ({topic.event_type} topic)"),
                topic.event_type, None, topic.platform_id, _schema_id(data),
            )
        return DeadLettered(exc.reason, _WIRE_MESSAGES.get(exc.reason, str(exc)))
    # Accepted records carry the reader (latest) version: the record has its shape, so that is
    # the version to re-encode with; rejections report the writer's schema id.
    # Written with the latest version: the bytes can be passed on as they are.
    raw = data if decoded.version is decoded.reader else None
    return _judge(topic.event_type, decoded.record, decoded.reader, ctx, now_ms, topic.platform_id,
                  writer_schema_id=decoded.version.schema_id, raw=raw)


def classify_json(payload: object, event_type: str, ctx: Context, now_ms: int,
                  topic_platform: str | None = None) -> Accepted | Rejected:
    """Validate one JSON-shaped event (HTTP gateway, ``gigbridge validate``) against the latest
    contract version: schema fit first, then the same rules as the stream."""
    version = ctx.catalog.contract(CONTRACT_BY_EVENT_TYPE[event_type]).latest
    record = dict(payload) if isinstance(payload, dict) else payload
    rejection = check_schema(version, record)
    if rejection is not None:
        return Rejected(rejection, event_type, _str_field(payload, "event_id"),
                        _str_field(payload, "platform_id"), None)
    return _judge(event_type, record, version, ctx, now_ms, topic_platform)


def _judge(event_type, record, version, ctx, now_ms, topic_platform,
           writer_schema_id: int | None = None, raw: bytes | None = None) -> Accepted | Rejected:
    if event_type == "orders":
        rejection = check_order_cover(record, now_ms=now_ms, division_exists=ctx.division_exists, rates=ctx.rates,
                                      topic_platform=topic_platform, rules=ctx.rules)
    else:
        rejection = check_rules(event_type, record, now_ms=now_ms, division_exists=ctx.division_exists,
                                topic_platform=topic_platform, rules=ctx.rules)
    if rejection is None:
        return Accepted(event_type, record, version, raw)
    return Rejected(rejection, event_type, record.get("event_id"), record.get("platform_id"),
                    writer_schema_id)


def _schema_id(data: bytes | None) -> int | None:
    return int.from_bytes(data[1:5], "big") if data and len(data) >= 5 else None


def _str_field(payload: object, name: str) -> str | None:
    value = payload.get(name) if isinstance(payload, dict) else None
    return value if isinstance(value, str) else None


# --- records the hub writes for each outcome ----------------------------------------------

def rejection_record(outcome: Rejected, source: Source, now_ms: int) -> dict:
    """The ``RejectionRecord`` for ``platform.<id>.rejected``; never carries the rejected value."""
    r = outcome.rejection
    return {
        "event_id": outcome.event_id, "platform_id": outcome.platform_id,
        "event_type": outcome.event_type, "reason": r.reason, "field": r.field, "message": r.message,
        "source_topic": source.topic, "source_partition": source.partition,
        "source_offset": source.offset, "schema_id": outcome.schema_id, "rejected_at": now_ms,
    }


# An ingest message can be as large as the broker allows (~1 MB); wrapped in a dead letter with
# headers it would exceed that limit and could never be written, stalling its partition. Above
# this size the original value is left where it is (the record names topic, partition, offset).
DLQ_MAX_ORIGINAL_BYTES = 256 * 1024


def dead_letter_record(outcome: DeadLettered, source: Source, key: bytes | None,
                       value: bytes | None, now_ms: int) -> dict:
    """The ``DeadLetter`` record for ``hub.dlq``: the original bytes, untouched (or, above
    ``DLQ_MAX_ORIGINAL_BYTES``, left out and said so in ``message``)."""
    message = outcome.message
    if value is not None and len(value) > DLQ_MAX_ORIGINAL_BYTES:
        message += (f" [original value of {len(value)} bytes not copied (over {DLQ_MAX_ORIGINAL_BYTES}); "
                    f"read it at {source.topic}/{source.partition}@{source.offset}]")
        value = None
    if key is not None and len(key) > DLQ_MAX_ORIGINAL_BYTES:
        key = None
    return {
        "reason": outcome.reason, "message": message, "source_topic": source.topic,
        "source_partition": source.partition, "source_offset": source.offset,
        "original_key": key, "original_value": value, "failed_at": now_ms,
    }


def dead_letter_headers(outcome: DeadLettered, source: Source) -> list[tuple[str, bytes]]:
    """Kafka Connect-style error headers, so Connect tooling can read the hub's DLQ."""
    return [
        ("__connect.errors.topic", source.topic.encode()),
        ("__connect.errors.partition", str(source.partition).encode()),
        ("__connect.errors.offset", str(source.offset).encode()),
        ("__connect.errors.exception.class.name", b"gigbridge.WireFormatError"),
        ("__connect.errors.exception.message", f"{outcome.reason}: {outcome.message}".encode()),
        ("__connect.errors.stage", b"VALUE_CONVERTER"),
    ]
