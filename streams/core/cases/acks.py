"""Incident acknowledgements by offices (``IncidentAck``): a small state machine per incident.

``RECEIVED`` comes first; ``VISITED`` and ``REFERRED`` may follow, each once, in any order. A
replayed ``event_id`` is a no-op; an illegal step is refused with a reason and changes nothing.
Only the unit that acknowledged receipt -- or the unit it referred the incident to -- may add
steps. The intake forwards every valid acknowledgement to :data:`VALIDATED_INCIDENT_ACKS` keyed by
:func:`ack_key`; the one owner of that key applies it (:mod:`.ack_owner`) and routes the accepted
acknowledgements to the platform on ``platform.<id>.incident-acks``.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.core.validate import Rejection

ACK_ACTIONS = ("RECEIVED", "VISITED", "REFERRED")
#: The hub's repartition topic of acknowledgements, keyed by :func:`ack_key` (co-partitioned with
#: the owner's table ``incident-acks``).
VALIDATED_INCIDENT_ACKS = "hub.validated.incident-acks"


def ack_key(platform_id: str, incident_id: str) -> str:
    """The key of an incident's acknowledgements: incident ids are unique only within a platform."""
    return f"{platform_id}:{incident_id}"


@dataclass(frozen=True, slots=True)
class AckState:
    platform_id: str
    incident_id: str
    unit_id: str  # the unit that received it
    steps: tuple[str, ...]  # actions taken, in order
    referred_to: str | None
    applied_event_ids: tuple[str, ...]


def apply_ack(state: AckState | None, ack: dict) -> AckState | Rejection:
    """The acknowledgements of an incident after one (validated) IncidentAck."""
    if state is not None and ack["event_id"] in state.applied_event_ids:
        return state
    action = ack["action"]
    if state is None:
        if action != "RECEIVED":
            return Rejection("not_received", "action", "an incident is acknowledged as RECEIVED first")
        return AckState(ack["platform_id"], ack["incident_id"], ack["unit_id"], ("RECEIVED",), None, (ack["event_id"],))
    if (state.platform_id, state.incident_id) != (ack["platform_id"], ack["incident_id"]):
        return Rejection("incident_mismatch", "incident_id", "the acknowledgement belongs to another incident")
    if ack["unit_id"] not in (state.unit_id, state.referred_to):
        return Rejection("actor_not_permitted", "unit_id", "only the receiving or the referred-to unit adds steps")
    if action in state.steps:
        return Rejection("illegal_transition", "action", f"{action} was already recorded")
    return AckState(state.platform_id, state.incident_id, state.unit_id, (*state.steps, action),
                    ack.get("target_unit") or state.referred_to, (*state.applied_event_ids, ack["event_id"]))


def acks_topic(platform_id: str) -> str:
    return f"platform.{platform_id}.incident-acks"
