"""The owner's step for incident acknowledgements (pure): one forwarded ``IncidentAck`` against
what is stored for its incident.

The stored record is ``{"acks": [...]}``: the acknowledgements accepted so far, in order (at most
three). The :class:`~streams.core.cases.acks.AckState` is their fold through
:func:`~streams.core.cases.acks.apply_ack`, so what is stored can never disagree with the machine.

* A legal step: stored with the step appended; output the step on ``platform.<id>.incident-acks``.
* A replay (an ``event_id`` already accepted): stored unchanged; output *every* accepted
  acknowledgement again, in order -- the platform's topic carries the ``IncidentAck`` contract, so
  the incident's state is its accepted steps; sending them all again repairs outputs lost in a
  crash between sending and storing (receivers drop event ids they have).
* An illegal step: stored unchanged; a ``CaseRejection`` (named by ``incident_id``) to the sending
  unit's ``gov.units.<unit>.case-rejections``.
"""

from __future__ import annotations

from streams.core.cases.acks import AckState, acks_topic, apply_ack
from streams.core.cases.flow import Sender, case_rejection
from streams.core.cases.lifecycle import Output
from streams.core.validate import Rejection


def ack_state(stored: dict | None) -> AckState | None:
    """The state of an incident from its stored accepted acknowledgements (None: none yet)."""
    state = None
    for ack in (stored or {}).get("acks", ()):
        state = apply_ack(state, ack)
    return state


def _to_platform(ack: dict) -> Output:
    return Output(acks_topic(ack["platform_id"]), ack["incident_id"], ack)


def own_ack(stored: dict | None, ack: dict, now_ms: int) -> tuple[dict | None, tuple[Output, ...]]:
    """(the record to store -- ``stored`` itself when nothing changes, the outputs) for one ack."""
    state = ack_state(stored)
    result = apply_ack(state, ack)
    if isinstance(result, Rejection):
        sender = Sender("UNIT", ack["unit_id"], "incident-acks")
        return stored, (case_rejection(sender, ack["event_id"], ack["incident_id"], result, now_ms),)
    if result is state:  # event_id already accepted
        return stored, tuple(_to_platform(a) for a in stored["acks"])
    return {"acks": [*(stored or {}).get("acks", ()), ack]}, (_to_platform(ack),)
