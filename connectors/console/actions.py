"""What a unit may do from the console, and the events it sends (pure, but for :func:`send`).

Case steps are offered only when ``streams.core.cases.lifecycle`` would take them from this unit
(status and role), and each built event is tried on the current state with the lifecycle's own
``apply`` before it is sent, so an illegal step is explained on the page instead of bouncing off
the hub. Events go out through the unit write path (``UnitSubmissions.submit(unit_id, stream,
events)``, :mod:`connectors.gateway.unit_writes`): every event carries the ``event_id`` the form was rendered with, so
a resubmitted form repeats the same id and the hub applies it at most once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

from connectors.gateway.unit_writes import EventRejected, SubmissionNotSaved, SubmitOutcome
from streams.core.cases.acks import ACK_ACTIONS, AckState
from streams.core.cases.lifecycle import FROM_STATUSES, PERMISSIONS, CaseState, apply, roles_of
from streams.core.cases.units import UnitBook
from streams.core.validate import Rejection

log = logging.getLogger("connectors.console")

#: the case steps the console offers, in the order of the buttons
CASE_ACTIONS = ("ACCEPTED", "ASSIGNED", "TRANSFERRED", "RESPONDED", "RESOLVED")
NEEDS_TARGET = ("ASSIGNED", "TRANSFERRED")
CASE_STREAM = "case-events"
ACK_STREAM = "incident-acks"
MAX_NOTE_CHARS = 500


class UnitWrites(Protocol):
    """The unit write path (:class:`connectors.gateway.unit_writes.UnitSubmissions`): one outcome
    per event, :class:`SubmissionNotSaved` when the broker did not acknowledge them."""

    async def submit(self, unit_id: str, stream: str, events: list[dict]) -> list[SubmitOutcome]: ...


def new_event_id() -> str:
    return str(uuid.uuid4())


def valid_event_id(text: str | None) -> str | None:
    """The form's hidden event id if it is a UUID (canonical form), else None."""
    try:
        return str(uuid.UUID(text or ""))
    except ValueError:
        return None


def legal_case_actions(state: CaseState, unit_id: str) -> tuple[str, ...]:
    """The console's actions the lifecycle allows this unit now (status and role)."""
    roles = roles_of(state, "UNIT", unit_id)
    return tuple(a for a in CASE_ACTIONS if state.status in FROM_STATUSES[a] and roles & PERMISSIONS[a])


def legal_ack_actions(acks: AckState | None, unit_id: str) -> tuple[str, ...]:
    """RECEIVED first; then VISITED and REFERRED once each, by the receiving or referred-to unit."""
    if acks is None:
        return ("RECEIVED",)
    if unit_id not in (acks.unit_id, acks.referred_to):
        return ()
    return tuple(a for a in ACK_ACTIONS if a not in acks.steps)


def case_event(state: CaseState, unit_id: str, action: str, event_id: str, now_ms: int,
               target_unit: str | None = None, note: str | None = None) -> dict:
    return {"event_id": event_id, "case_id": state.case_id, "action": action, "actor_kind": "UNIT",
            "actor_id": unit_id, "target_unit": target_unit if action in NEEDS_TARGET else None,
            "reason_code": None, "satisfaction": None, "note": note or None, "at": now_ms}


def ack_event(platform_id: str, incident_id: str, unit_id: str, action: str, event_id: str, now_ms: int,
              target_unit: str | None = None, note: str | None = None) -> dict:
    return {"event_id": event_id, "platform_id": platform_id, "incident_id": incident_id, "unit_id": unit_id,
            "action": action, "target_unit": target_unit if action == "REFERRED" else None,
            "note": note or None, "at": now_ms}


def precheck_case(state: CaseState, event: dict, units: UnitBook) -> Rejection | None:
    """The lifecycle's verdict on ``event`` against the current state (None: it would apply)."""
    if event["action"] in NEEDS_TARGET and units.get(event["target_unit"] or "") is None:
        return Rejection("unknown_unit", "target_unit", "no such unit")
    outcome = apply(state, event, units)
    return outcome if isinstance(outcome, Rejection) else None


@dataclass(frozen=True, slots=True)
class Outcome:
    """``sent``: the broker acknowledged and the hub accepted the event; ``refused``: the hub's
    validation refused it (``reason``); ``unavailable``: not acknowledged, nothing known applied."""

    kind: str  # "sent" | "refused" | "unavailable"
    reason: str | None = None
    message: str | None = None


async def send(writes: UnitWrites, unit_id: str, stream: str, event: dict) -> Outcome:
    """Submit one event; any failure to get an acknowledgement is ``unavailable`` (the caller keeps
    the form, with the same event id, for a resubmission)."""
    try:
        (outcome,) = await writes.submit(unit_id, stream, [event])
    except SubmissionNotSaved as exc:
        log.warning("console submit not acknowledged: %s", exc)
        return Outcome("unavailable", message=str(exc))
    if isinstance(outcome, EventRejected):
        return Outcome("refused", outcome.reason, outcome.message)
    return Outcome("sent")
