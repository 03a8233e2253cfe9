"""Planning one batch of the case intake (pure): bytes from the senders' topics in, encoded
deliveries out -- one per input record, never an exception.

A record of ``hub.units.gateway`` (a unit's step sent over HTTP) is judged as if on the unit's own
topic, the unit and stream taken from its headers (:mod:`.gateway_input`); one without valid
headers is dead-lettered (``invalid_unit_headers``).
A record that does not decode, or carries another contract than its topic, goes to ``hub.dlq``
(a ``DeadLetter`` with the original bytes, as on the validation stream); a decoded one gets
:func:`streams.core.cases.flow.judge_input`'s output (forwarded keyed by case_id, or a
``CaseRejection`` to its sender). A failure of the judgement itself (a bug) dead-letters that
record as ``processing_error`` instead of stopping the stream.
"""

from __future__ import annotations

from typing import Iterable

from schemas.catalog import Catalog
from schemas.wire import WireFormatError, decode, encode
from streams.core.cases.flow import CONTRACT_OF_STREAM, VALIDATED_CASE_EVENTS, VALIDATED_CASES, judge_input, parse_input_topic
from streams.core.cases.gateway_input import UNITS_GATEWAY_TOPIC, gateway_sender, gateway_stream
from streams.core.cases.acks import VALIDATED_INCIDENT_ACKS
from streams.core.cases.lifecycle import Output
from streams.core.cases.units import UnitBook
from streams.core.classify import DeadLettered, Source, dead_letter_headers, dead_letter_record
from streams.core.context import Context
from streams.core.plan import Delivery, InMessage
from streams.core.topics import DLQ_TOPIC

_FORWARDED = (VALIDATED_CASES, VALIDATED_CASE_EVENTS, VALIDATED_INCIDENT_ACKS)


def encode_output(catalog: Catalog, output: Output, kind: str) -> Delivery:
    """An output record in the wire format of its topic's contract, keyed by its key."""
    version = catalog.match_topic(output.topic).contract.latest
    return Delivery(kind, output.topic, output.key.encode(), encode(version, output.value))


def dead_letter(catalog: Catalog, msg: InMessage, reason: str, message: str, now_ms: int) -> Delivery:
    outcome, source = DeadLettered(reason, message), Source(msg.topic, msg.partition, msg.offset)
    record = dead_letter_record(outcome, source, msg.key, msg.value, now_ms)
    return Delivery("dlq", DLQ_TOPIC, msg.key, encode(catalog.contract("dead_letter").latest, record),
                    tuple(dead_letter_headers(outcome, source)))


def input_stream(msg: InMessage) -> str | None:
    """The case stream a record belongs to ("unknown" for a unit's HTTP record without a valid
    stream header), None for a topic that is not a case input."""
    if msg.topic == UNITS_GATEWAY_TOPIC:
        return gateway_stream(msg.headers) or "unknown"
    sender = parse_input_topic(msg.topic)
    return None if sender is None else sender.stream


def plan_message(msg: InMessage, ctx: Context, units: UnitBook, now_ms: int) -> Delivery | None:
    """The delivery for one input record; None for a topic that is not a case input."""
    if msg.topic == UNITS_GATEWAY_TOPIC:  # a unit's record the gateway wrote: the writer is in the headers
        sender = gateway_sender(msg.headers, units)
        if sender is None:
            return dead_letter(ctx.catalog, msg, "invalid_unit_headers",
                               "no valid gigbridge-unit / gigbridge-stream headers: not any unit's record", now_ms)
    else:
        sender = parse_input_topic(msg.topic)
    if sender is None:
        return None
    try:
        record = decode(ctx.catalog, msg.value or b"", expect_contract=CONTRACT_OF_STREAM[sender.stream]).record
    except WireFormatError as exc:
        return dead_letter(ctx.catalog, msg, exc.reason, f"{sender.stream} record does not decode ({exc.reason})", now_ms)
    try:
        output = judge_input(sender, record, now_ms=now_ms, division_exists=ctx.division_exists, units=units,
                             rules=ctx.rules)
        kind = "validated" if output.topic in _FORWARDED else "rejected"
        return encode_output(ctx.catalog, output, kind)
    except Exception as exc:  # noqa: BLE001 - one bad record must not stop the stream
        return dead_letter(ctx.catalog, msg, "processing_error", f"case intake failed: {type(exc).__name__}", now_ms)


def plan_intake(messages: Iterable[InMessage], ctx: Context, units: UnitBook, now_ms: int) -> list[Delivery]:
    """One delivery per case input record, in input order."""
    return [d for d in (plan_message(m, ctx, units, now_ms) for m in messages) if d is not None]
