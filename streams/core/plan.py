"""Batch planning: a batch of ingest messages in, the records to write out (pure).

:func:`plan_batch` classifies each message (``streams.core.classify``), marks repeats of an accepted
``event_id`` as duplicates (within the batch, and by the caller's ``seen_before``, the worker's
dedupe store), routes each accepted event (``streams.core.route``), applies each destination's
privacy policy and encodes every output as a :class:`Delivery`. It does no I/O.

What the worker's batch loop (``streams.runtime.worker``, ``streams.runtime.ingest_loop``) does with a plan:
write every delivery, wait until the broker has acknowledged all of them (acks=all), write the
accepted ids to the dedupe log and store, and only then commit the input offsets. So an input
offset is committed only after its outcome is durable, and a crash in between re-processes the
batch (at-least-once; the dedupe store makes the repeat invisible downstream except inside that
crash window).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, NamedTuple

from schemas.splice import splice
from schemas.wire import encode
from streams.core.classify import (
    Accepted, DeadLettered, Outcome, Rejected, Source, classify,
    dead_letter_headers, dead_letter_record, rejection_record,
)
from streams.core.context import Context
from streams.core.cover.keys import cover_key, feeds_cover_stage
from streams.core.policy import POLICY_LEAVES
from streams.core.route import DestinationKind, routes_for
from streams.core.topics import COVER_INCIDENTS_TOPIC, DLQ_TOPIC, parse_ingest_topic, rejected_topic, validated_topic

# What an output record is: a copy for a destination (``streams.core.route.DestinationKind``) or one of
# the hub's own records. Also the ``destination`` label of ``gigbridge_routed_total``.
# "cover": an insured incident's copy for the cover stage (``hub.cover.incidents``).
DeliveryKind = Literal[DestinationKind, "validated", "cover", "rejected", "dlq", "receipt", "sink_dlq", "dedupe"]


# The per-record types are NamedTuples: immutable like frozen dataclasses, but built ~3x
# faster (a frozen dataclass sets each field through object.__setattr__), and several are
# made per input record.
class InMessage(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    handle: Any = None  # the transport's own event
    timestamp_ms: int | None = None  # the input record's Kafka timestamp (append or create time)
    headers: tuple = ()  # the record's (name, bytes) headers, for inputs whose writer is named there

    @property
    def source(self) -> Source:
        return Source(self.topic, self.partition, self.offset)


class Delivery(NamedTuple):
    kind: DeliveryKind
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None  # None: the producer's partitioner (by key)


class Decision(NamedTuple):
    """What became of one input message."""

    message: InMessage
    platform_id: str
    event_type: str
    outcome: Outcome
    duplicate: bool
    deliveries: tuple[Delivery, ...]


@dataclass
class BatchPlan:
    decisions: list[Decision] = field(default_factory=list)

    @property
    def deliveries(self) -> list[Delivery]:
        return [d for decision in self.decisions for d in decision.deliveries]

    @property
    def accepted_ids(self) -> list[str]:
        return [d.outcome.event_id for d in self.decisions
                if isinstance(d.outcome, Accepted) and not d.duplicate]


def plan_batch(messages: Iterable[InMessage], ctx: Context,
               seen_before: Callable[[InMessage, str], bool], now_ms: int) -> BatchPlan:
    """Classify each message and build its deliveries. ``seen_before(message, event_id)`` asks
    the dedupe state; repeats of an accepted event_id (earlier in the window or earlier in this
    batch) are marked duplicate and produce nothing."""
    plan = BatchPlan()
    in_batch: set[str] = set()
    for msg in messages:
        topic = parse_ingest_topic(msg.topic)
        if topic is None:  # subscription only holds ingest topics; guard anyway
            raise ValueError(f"not an ingest topic: {msg.topic}")
        outcome = classify(msg.value, topic, ctx, now_ms)
        duplicate = False
        if isinstance(outcome, Accepted):
            duplicate = outcome.event_id in in_batch or seen_before(msg, outcome.event_id)
            in_batch.add(outcome.event_id)
        deliveries = () if duplicate else _deliveries(outcome, msg, topic.platform_id, ctx, now_ms)
        plan.decisions.append(Decision(msg, topic.platform_id, topic.event_type, outcome, duplicate, deliveries))
    return plan


def _deliveries(outcome: Outcome, msg: InMessage, platform_id: str, ctx: Context,
                now_ms: int) -> tuple[Delivery, ...]:
    if isinstance(outcome, Accepted):
        # Every copy keeps the platform's key (the site) so one site's events stay in order,
        # except the cover stage's inputs: keyed by platform and province (streams.core.cover.keys).
        # Encoding is the main per-event cost: reuse the platform's bytes when they already are
        # the latest version, and them again for a destination whose policy changed nothing.
        record = outcome.record
        original = outcome.raw or encode(outcome.version, record, validate=False)
        out = []
        if outcome.event_type == "orders":  # the cover stage's input: written even without emit_validated
            out.append(Delivery("validated", validated_topic("orders"), cover_key(record), original))
        elif ctx.emit_validated:
            out.append(Delivery("validated", validated_topic(outcome.event_type), msg.key, original))
        for route in routes_for(outcome.event_type, record, ctx.routing, ctx.level_of):
            copy = ctx.protect(route, record)
            # Policies only re-key refs, round coordinates and timestamps: types stay valid, and
            # the copy is the original bytes with those values' bytes replaced (schemas.splice).
            value = original if copy == record else (
                splice(original, outcome.version, record, copy, POLICY_LEAVES) or encode(outcome.version, copy, validate=False))
            out.append(Delivery(route.kind, route.topic, msg.key, value))
        if feeds_cover_stage(outcome.event_type, record):
            out.append(Delivery("cover", COVER_INCIDENTS_TOPIC, cover_key(record), original))
        return tuple(out)
    if isinstance(outcome, Rejected):
        record = rejection_record(outcome, msg.source, now_ms)
        return (Delivery("rejected", rejected_topic(platform_id), msg.key,
                         encode(ctx.catalog.contract("rejection_record").latest, record)),)
    assert isinstance(outcome, DeadLettered)
    record = dead_letter_record(outcome, msg.source, msg.key, msg.value, now_ms)
    return (Delivery("dlq", DLQ_TOPIC, msg.key,
                     encode(ctx.catalog.contract("dead_letter").latest, record),
                     tuple(dead_letter_headers(outcome, msg.source))),)
