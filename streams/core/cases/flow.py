"""The concern-case flow as pure steps: judge what a sender wrote, then apply it to the case.

Two steps, so that every input of a case is applied by the one owner of its ``case_id``:

1. :func:`judge_input` -- one record from a sender's own topic (``platform.<id>.cases``,
   ``platform.<id>.case-events``, ``gov.units.<unit>.case-events``, ``gov.units.<unit>.incident-acks``):
   the record rules (:mod:`.records`) plus "the actor is the topic's owner". A valid case or step
   is forwarded to ``hub.validated.cases`` / ``hub.validated.case-events`` *keyed by case_id* (the
   repartition: senders key their topics as they like); a valid acknowledgement to
   ``hub.validated.incident-acks`` keyed by ``<platform>:<incident_id>`` (applied in order by
   :mod:`.ack_owner`); anything else becomes a ``CaseRejection`` on the sender's
   ``case-rejections`` topic.
2. :func:`own_step` -- one forwarded record against the stored case (a ``CaseState`` dict or
   None): the lifecycle (:mod:`.lifecycle`). Returns the record to store (unchanged on a refusal or
   a replay) and the outputs. A replay (a case_id already opened, an event_id already applied)
   changes nothing and re-sends the current state, so outputs lost in a crash between storing and
   sending are sent again (every output is the whole state: receivers keep the highest version).
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple

from streams.core.cases.lifecycle import CaseState, Output, apply, fan_out, open_case, rejection_reply
from streams.core.cases.records import check_case_event, check_concern_case, check_incident_ack
from streams.core.cases.acks import VALIDATED_INCIDENT_ACKS, ack_key
from streams.core.cases.units import UnitBook
from streams.core.validate import DEFAULT_RULES, Rejection, Rules

VALIDATED_CASES = "hub.validated.cases"
VALIDATED_CASE_EVENTS = "hub.validated.case-events"
STATE_TOPIC = "hub.cases.state"
#: Every topic a sender writes cases, steps or acknowledgements on (a regex for a pattern subscription).
INPUT_PATTERN = (r"platform\.[a-z][a-z0-9-]{1,31}\.(cases|case-events)"
                 r"|gov\.units\.[a-z0-9][a-z0-9-]{2,47}\.(case-events|incident-acks)")
_INPUT_RE = re.compile(r"(platform|gov\.units)\.([a-z0-9][a-z0-9-]*)\.(cases|case-events|incident-acks)")
#: The contract each input stream carries.
CONTRACT_OF_STREAM = {"cases": "concern_case", "case-events": "case_event", "incident-acks": "incident_ack"}


class Sender(NamedTuple):
    """Who owns an input topic (only they may write it: deploy/access.yaml) and what it carries."""

    kind: str  # "PLATFORM" | "UNIT"
    id: str
    stream: str  # "cases" | "case-events" | "incident-acks"

    @property
    def rejections_topic(self) -> str:
        prefix = "platform" if self.kind == "PLATFORM" else "gov.units"
        return f"{prefix}.{self.id}.case-rejections"


def parse_input_topic(topic: str) -> Sender | None:
    """``gov.units.110105-hrss.case-events`` -> Sender("UNIT", "110105-hrss", "case-events")."""
    match = re.fullmatch(INPUT_PATTERN, topic) and _INPUT_RE.fullmatch(topic)
    if not match:
        return None
    return Sender("PLATFORM" if match[1] == "platform" else "UNIT", match[2], match[3])


def case_rejection(sender: Sender, event_id: str, case_id: str, rejection: Rejection, now_ms: int) -> Output:
    """A ``CaseRejection`` for the sender (a refused case is named by its case_id as event_id)."""
    return Output(sender.rejections_topic, case_id, {
        "event_id": event_id, "case_id": case_id, "reason": rejection.reason, "field": rejection.field,
        "message": rejection.message, "rejected_at": now_ms})


def _not_the_owner(sender: Sender, actor_kind: str, actor_id: str, field: str) -> Rejection | None:
    """A platform writes only as itself; a unit topic carries only that unit's (or union's, office's) steps."""
    if sender.kind == "PLATFORM" and (actor_kind != "PLATFORM" or actor_id != sender.id):
        return Rejection("platform_mismatch", field, "the actor differs from the platform that owns the topic")
    if sender.kind == "UNIT" and (actor_kind == "PLATFORM" or actor_id != sender.id):
        return Rejection("unit_mismatch", field, "the actor differs from the unit that owns the topic")
    return None


def judge_input(sender: Sender, record: dict, *, now_ms: int, division_exists: Callable[[str], bool],
                units: UnitBook, rules: Rules = DEFAULT_RULES) -> Output:
    """The one output for a schema-valid record from ``sender``'s topic (see the module docstring)."""
    if sender.stream == "cases":
        rejection = (_not_the_owner(sender, record["source_kind"], record["source_id"], "source_id")
                     or check_concern_case(record, now_ms=now_ms, division_exists=division_exists, units=units,
                                           topic_platform=sender.id if sender.kind == "PLATFORM" else None,
                                           rules=rules))
        if rejection is not None:
            return case_rejection(sender, record["case_id"], record["case_id"], rejection, now_ms)
        return Output(VALIDATED_CASES, record["case_id"], record)
    if sender.stream == "case-events":
        rejection = (_not_the_owner(sender, record["actor_kind"], record["actor_id"], "actor_id")
                     or check_case_event(record, now_ms=now_ms, units=units, rules=rules))
        if rejection is not None:
            return case_rejection(sender, record["event_id"], record["case_id"], rejection, now_ms)
        return Output(VALIDATED_CASE_EVENTS, record["case_id"], record)
    rejection = (_not_the_owner(sender, "UNIT", record["unit_id"], "unit_id")
                 or check_incident_ack(record, now_ms=now_ms, units=units, rules=rules))
    if rejection is not None:  # an acknowledgement names its incident where a step names its case
        return case_rejection(sender, record["event_id"], record["incident_id"], rejection, now_ms)
    return Output(VALIDATED_INCIDENT_ACKS, ack_key(record["platform_id"], record["incident_id"]), record)


def own_step(topic: str, stored: dict | None, record: dict, units: UnitBook,
             now_ms: int) -> tuple[dict | None, tuple[Output, ...]]:
    """(the case record to store, the outputs) after one forwarded case or step of that case."""
    state = CaseState.from_record(stored) if stored is not None else None
    if topic == VALIDATED_CASES:
        if state is not None:  # the same case_id again: a replay
            return stored, fan_out(state)
        opened = open_case(record, units)
        return opened.state.as_record(), opened.outputs
    result = apply(state, record, units)
    if isinstance(result, Rejection):
        return stored, (rejection_reply(record, result, now_ms),)
    if not result.outputs:  # event_id already applied
        return stored, fan_out(state)
    return result.state.as_record(), result.outputs
