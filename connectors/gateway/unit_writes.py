"""Case steps and incident acknowledgements a handling unit submits outside Kafka: the one
in-process entry point, used by the gateway's ``POST /v1/units/{unit_id}/...`` routes and by the
office console for a signed-in unit.

:meth:`UnitSubmissions.submit` judges every event as the case intake judges a record on the unit's
own topic (:func:`judge_case_input`: the contract, the record rules, "the actor is this unit"),
writes the valid ones to ``hub.units.gateway`` with the unit and stream in record headers
(:mod:`streams.core.cases.gateway_input`: the hub may not write a unit's topic) and returns only
once the broker acknowledged every one of them (acks=all). The intake then treats them exactly
as records of ``gov.units.<unit>.<stream>``: a step that is illegal for the case's current state
is refused later, on ``gov.units.<unit>.case-rejections``; a step with an ``event_id`` already
applied is a no-op, and an acknowledgement sent twice reaches the platform twice with one
``event_id`` (as on Kafka).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

from schemas.wire import EncodeError, encode
from streams.core.cases.flow import CONTRACT_OF_STREAM, Sender, judge_input
from streams.core.cases.gateway_input import KEY_FIELD, UNIT_STREAMS, UNITS_GATEWAY_TOPIC, unit_headers
from streams.core.cases.units import UnitBook
from streams.core.context import Context
from streams.core.validate import Rejection, check_schema

from .producer import EventProducer, ProduceError

__all__ = ["EventAccepted", "EventRejected", "SubmissionNotSaved", "UnitSubmissions", "judge_case_input"]


@dataclass(frozen=True)
class EventAccepted:
    """The event is in Kafka (acknowledged); the hub will apply it (or refuse it later for the
    case's state, on the unit's ``case-rejections`` topic)."""

    index: int
    event_id: str | None
    status: Literal["accepted"] = "accepted"

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "event_id": self.event_id, "status": self.status}


@dataclass(frozen=True)
class EventRejected:
    """The event was not written: ``reason`` is a stable code, ``field`` the field path (or
    None), ``message`` says what to fix and carries no value of the event."""

    index: int
    event_id: str | None
    reason: str
    field: str | None
    message: str
    status: Literal["rejected"] = "rejected"

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "event_id": self.event_id, "status": self.status, "reason": self.reason,
                "field": self.field, "message": self.message}


SubmitOutcome = EventAccepted | EventRejected


class SubmissionNotSaved(Exception):
    """Kafka did not acknowledge every accepted event: nothing may be reported as saved, and the
    caller should submit the same events again (a repeat is harmless: steps are idempotent by
    ``event_id``, and receivers drop repeated acknowledgements by theirs)."""


def judge_case_input(sender: Sender, event: Any, ctx: Context, units: UnitBook,
                     now_ms: int) -> tuple[bytes, bytes] | Rejection:
    """(record key, Confluent wire value) of an event ``sender`` may write on its ``sender.stream``,
    or the first rule it breaks: the contract of the stream, then what the case intake checks
    for a record on the sender's own topic (:func:`streams.core.cases.flow.judge_input`)."""
    version = ctx.catalog.contract(CONTRACT_OF_STREAM[sender.stream]).latest
    rejection = check_schema(version, event)
    if rejection is not None:
        return rejection
    output = judge_input(sender, event, now_ms=now_ms, division_exists=ctx.division_exists, units=units,
                         rules=ctx.rules)
    if output.topic == sender.rejections_topic:
        value = output.value
        return Rejection(value["reason"], value["field"], value["message"])
    try:
        value = encode(version, event)
    except EncodeError as exc:  # the checker passed but the encoder did not: still a misfit
        return Rejection("schema_violation", exc.field, exc.message)
    return event[KEY_FIELD[sender.stream]].encode("utf-8"), value


def event_id_of(event: Any) -> str | None:
    """The ``event_id`` an answer names an event by (a case has none: its ``case_id``)."""
    if isinstance(event, dict):
        value = event.get("event_id", event.get("case_id"))
        return value if isinstance(value, str) else None
    return None


class UnitSubmissions:
    """Submit a unit's events. ``producer``: the gateway's (acks=all, idempotent) or a test
    double; ``ctx``: the hub's rules (``streams.context.build_context``); ``clock``: epoch
    seconds. ``units`` defaults to ``deploy/units.yaml``, read on the first submission (no I/O
    here)."""

    def __init__(self, producer: EventProducer, ctx: Context, clock: Callable[[], float], *,
                 units: UnitBook | None = None, timeout_s: float = 10.0) -> None:
        self.producer, self.ctx, self.clock, self.timeout_s = producer, ctx, clock, timeout_s
        self._units = units

    @property
    def units(self) -> UnitBook:
        if self._units is None:
            from streams.loaders.cases import load_units

            self._units = load_units()
        return self._units

    def knows(self, unit_id: str) -> bool:
        """Whether ``unit_id`` is a unit of the units file (or a county government)."""
        return self.units.get(unit_id) is not None

    async def submit(self, unit_id: str, stream: str, events: list[dict]) -> list[SubmitOutcome]:
        """One outcome per event, in order. Every :class:`EventAccepted` is acknowledged by Kafka
        when this returns; :class:`SubmissionNotSaved` if the broker did not acknowledge them all
        (then none counts as saved). ``ValueError`` for a stream other than ``case-events`` /
        ``incident-acks`` or a unit that is not in the units file."""
        if stream not in UNIT_STREAMS:
            raise ValueError(f"unit streams are {UNIT_STREAMS}, not {stream!r}")
        if not self.knows(unit_id):
            raise ValueError(f"{unit_id!r} is not a unit of the units file")
        sender, now_ms = Sender("UNIT", unit_id, stream), int(self.clock() * 1000)
        outcomes: list[SubmitOutcome] = []
        records: list[tuple[bytes, bytes]] = []
        for index, event in enumerate(events):
            judged = judge_case_input(sender, event, self.ctx, self.units, now_ms)
            if isinstance(judged, Rejection):
                outcomes.append(EventRejected(index, event_id_of(event), judged.reason, judged.field, judged.message))
            else:
                records.append(judged)
                outcomes.append(EventAccepted(index, event_id_of(event)))
        if records:
            try:
                await self.producer.send_batch(UNITS_GATEWAY_TOPIC, records, self.timeout_s,
                                               headers=unit_headers(unit_id, stream))
            except ProduceError as exc:
                raise SubmissionNotSaved(f"Kafka did not acknowledge the events ({exc}); nothing was saved, "
                                         "submit them again") from exc
        return outcomes
