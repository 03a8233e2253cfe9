"""The concern-case lifecycle as a pure state machine.

States (``CaseState.status``)::

    OPEN --ACCEPTED--> ACCEPTED --RESPONDED--> RESPONDED --RESOLVED--> RESOLVED --FEEDBACK (1-5, once)
     |  ^                 |                       |                       |
     |  +--TRANSFERRED----+-----------------------+        REOPENED (source) -> OPEN at the lead unit
     +--REJECTED(NOT_OUR_MATTER) -> OPEN at the county government (兜底; it cannot refuse)
     +--REJECTED(DUPLICATE | NOT_A_CONCERN) -> CLOSED_REJECTED --REOPENED--> OPEN

:data:`PERMISSIONS` says which role may take each step; :func:`apply` is the whole machine:
a legal step by a permitted actor returns a :class:`Transition` (the new state and the records to
fan out), an exact replay of an applied ``event_id`` returns the state unchanged with nothing to
send, anything else returns a :class:`~streams.core.validate.Rejection` and the caller keeps the old
state. Guarantees (tested exhaustively and with Hypothesis): an open case always has an assigned
unit the unit book knows; deadlines are fixed when a round starts (submission or reopening) and
no transfer, assignment or cross-region hand-over moves them; the first unit that accepts leads
(首接负责) and stays lead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

from streams.core.cases.units import UnitBook
from streams.core.validate import Rejection

STATUSES = ("OPEN", "ACCEPTED", "RESPONDED", "RESOLVED", "CLOSED_REJECTED")
ACTIONS = ("ACCEPTED", "ASSIGNED", "TRANSFERRED", "RESPONDED", "RESOLVED", "REJECTED", "REOPENED", "FEEDBACK")
ROLES = ("assigned", "lead", "co_unit", "platform", "source")
WORKING = ("ACCEPTED", "RESPONDED")
CLOSED = ("RESOLVED", "CLOSED_REJECTED")
#: The statuses each action may start from.
FROM_STATUSES: dict[str, tuple[str, ...]] = {
    "ACCEPTED": ("OPEN",), "ASSIGNED": WORKING, "TRANSFERRED": ("OPEN", *WORKING), "RESPONDED": WORKING,
    "RESOLVED": WORKING, "REJECTED": ("OPEN",), "REOPENED": CLOSED, "FEEDBACK": ("RESOLVED",),
}
#: The roles that may take each action.
PERMISSIONS: dict[str, frozenset[str]] = {
    "ACCEPTED": frozenset({"assigned"}), "ASSIGNED": frozenset({"lead"}),
    "TRANSFERRED": frozenset({"assigned", "lead"}), "RESPONDED": frozenset({"assigned", "lead", "co_unit", "platform"}),
    "RESOLVED": frozenset({"assigned", "lead"}), "REJECTED": frozenset({"assigned"}),
    "REOPENED": frozenset({"source"}), "FEEDBACK": frozenset({"source"}),
}
ILLEGAL_REASONS = ("unknown_case", "case_mismatch", "illegal_transition", "actor_not_permitted", "event_before_case",
                   "fallback_must_take", "same_unit", "already_co_unit", "feedback_already_given")


@dataclass(frozen=True, slots=True)
class CaseState:
    """What the hub keeps of one case; ``as_record`` gives the ``CaseState`` Avro dict."""

    case_id: str
    version: int
    source_kind: str
    source_id: str
    platform_id: str | None
    division_code: str
    category: str
    urgency: str
    status: str
    assigned_unit: str
    lead_unit: str | None
    handling_units: tuple[str, ...]
    co_units: tuple[str, ...]
    submitted_at: int
    accept_due: int
    response_due: int
    resolution_due: int
    accepted_at: int | None
    responded_at: int | None
    resolved_at: int | None
    reopen_count: int
    satisfaction: int | None
    updated_at: int
    applied_event_ids: tuple[str, ...]

    def as_record(self) -> dict:
        record = asdict(self)
        for name in ("handling_units", "co_units", "applied_event_ids"):
            record[name] = list(record[name])
        return record

    @classmethod
    def from_record(cls, record: dict) -> CaseState:
        values = dict(record)
        for name in ("handling_units", "co_units", "applied_event_ids"):
            values[name] = tuple(values.get(name) or ())
        return cls(**values)


class Output(NamedTuple):
    topic: str
    key: str
    value: dict


class Transition(NamedTuple):
    state: CaseState
    outputs: tuple[Output, ...]


def fan_out(state: CaseState) -> tuple[Output, ...]:
    """The current state to the compacted store topic, every unit involved, the platform and a unit source."""
    record = state.as_record()
    units = list(dict.fromkeys((*state.handling_units, *state.co_units)))
    if state.source_kind != "PLATFORM" and state.source_id not in units:
        units.append(state.source_id)
    topics = ["hub.cases.state", *(f"gov.units.{u}.case-updates" for u in units)]
    if state.platform_id is not None:
        topics.append(f"platform.{state.platform_id}.case-updates")
    return tuple(Output(topic, state.case_id, record) for topic in topics)


def _round_deadlines(units: UnitBook, urgency: str, start: int) -> dict:
    tier = units.deadlines[urgency]
    return {"accept_due": start + tier.accept_ms, "response_due": start + tier.respond_ms,
            "resolution_due": start + tier.resolve_ms}


def open_case(case: dict, units: UnitBook) -> Transition:
    """The state of a new (validated) ConcernCase: routed to its default unit, deadlines from submitted_at."""
    unit = units.route(case["category"], case["division_code"]).id
    state = CaseState(
        case_id=case["case_id"], version=1, source_kind=case["source_kind"], source_id=case["source_id"],
        platform_id=case.get("platform_id"), division_code=case["division_code"], category=case["category"],
        urgency=case["urgency"], status="OPEN", assigned_unit=unit, lead_unit=None, handling_units=(unit,),
        co_units=(), submitted_at=case["submitted_at"], accepted_at=None, responded_at=None, resolved_at=None,
        reopen_count=0, satisfaction=None, updated_at=case["submitted_at"], applied_event_ids=(),
        **_round_deadlines(units, case["urgency"], case["submitted_at"]),
    )
    return Transition(state, fan_out(state))


def roles_of(state: CaseState, actor_kind: str, actor_id: str) -> frozenset[str]:
    """Every role ``actor`` holds in the case (a platform that submitted is both platform and source)."""
    roles = set()
    if actor_kind == "UNIT":
        if actor_id == state.assigned_unit:
            roles.add("assigned")
        if actor_id == state.lead_unit:
            roles.add("lead")
        if actor_id in state.co_units:
            roles.add("co_unit")
    if actor_kind == "PLATFORM" and actor_id == state.platform_id:
        roles.add("platform")
    if actor_kind == state.source_kind and actor_id == state.source_id:
        roles.add("source")
    return frozenset(roles)


def _refuse(reason: str, field: str | None, message: str) -> Rejection:
    return Rejection(reason, field, message)


def apply(state: CaseState | None, event: dict, units: UnitBook) -> Transition | Rejection:
    """The case after one (validated) CaseEvent; see the module docstring."""
    if state is None:
        return _refuse("unknown_case", "case_id", "no case with this case_id has been submitted")
    if event["case_id"] != state.case_id:
        return _refuse("case_mismatch", "case_id", "the event belongs to another case")
    if event["event_id"] in state.applied_event_ids:
        return Transition(state, ())
    action, at = event["action"], event["at"]
    if state.status not in FROM_STATUSES[action]:
        return _refuse("illegal_transition", "action", f"{action} is not allowed while the case is {state.status}")
    if not roles_of(state, event["actor_kind"], event["actor_id"]) & PERMISSIONS[action]:
        allowed = ", ".join(sorted(PERMISSIONS[action]))
        return _refuse("actor_not_permitted", "actor_id", f"{action} may be taken by: {allowed}")
    if at < state.submitted_at:
        return _refuse("event_before_case", "at", "the step is dated before the case was submitted")
    changes = _STEP[action](state, event, units)
    if isinstance(changes, Rejection):
        return changes
    new = replace(state, **changes, version=state.version + 1, updated_at=max(state.updated_at, at),
                  applied_event_ids=(*state.applied_event_ids, event["event_id"]))
    return Transition(new, fan_out(new))


def _accepted(state: CaseState, event: dict, units: UnitBook) -> dict:
    return {"status": "RESPONDED" if state.responded_at is not None else "ACCEPTED",
            "lead_unit": state.lead_unit or event["actor_id"],
            "accepted_at": state.accepted_at if state.accepted_at is not None else event["at"]}


def _assigned(state: CaseState, event: dict, units: UnitBook) -> dict | Rejection:
    target = event["target_unit"]
    if target in state.co_units or target in (state.assigned_unit, state.lead_unit):
        return _refuse("already_co_unit", "target_unit", "the unit already handles this case")
    return {"co_units": (*state.co_units, target), "handling_units": _with(state.handling_units, target)}


def _transferred(state: CaseState, event: dict, units: UnitBook) -> dict | Rejection:
    target = event["target_unit"]
    if target == state.assigned_unit:
        return _refuse("same_unit", "target_unit", "the case is already with this unit")
    return {"status": "OPEN", "assigned_unit": target, "handling_units": _with(state.handling_units, target)}


def _responded(state: CaseState, event: dict, units: UnitBook) -> dict:
    return {"status": "RESPONDED",
            "responded_at": state.responded_at if state.responded_at is not None else event["at"]}


def _resolved(state: CaseState, event: dict, units: UnitBook) -> dict:
    responded = state.responded_at if state.responded_at is not None else event["at"]
    return {"status": "RESOLVED", "responded_at": responded, "resolved_at": event["at"]}


def _rejected(state: CaseState, event: dict, units: UnitBook) -> dict | Rejection:
    if event["reason_code"] != "NOT_OUR_MATTER":
        return {"status": "CLOSED_REJECTED", "resolved_at": event["at"]}
    fallback = units.county_government(state.division_code).id
    if state.assigned_unit == fallback:
        return _refuse("fallback_must_take", "reason_code", "the county government must take a case no one owns")
    return {"assigned_unit": fallback, "handling_units": _with(state.handling_units, fallback)}


def _reopened(state: CaseState, event: dict, units: UnitBook) -> dict:
    unit = state.lead_unit or units.county_government(state.division_code).id
    return {"status": "OPEN", "assigned_unit": unit, "handling_units": _with(state.handling_units, unit),
            "accepted_at": None, "responded_at": None, "resolved_at": None, "satisfaction": None,
            "reopen_count": state.reopen_count + 1, **_round_deadlines(units, state.urgency, event["at"])}


def _feedback(state: CaseState, event: dict, units: UnitBook) -> dict | Rejection:
    if state.satisfaction is not None:
        return _refuse("feedback_already_given", "satisfaction", "feedback is given once per resolution")
    return {"satisfaction": event["satisfaction"]}


def _with(seq: tuple[str, ...], unit: str) -> tuple[str, ...]:
    return seq if unit in seq else (*seq, unit)


_STEP = {"ACCEPTED": _accepted, "ASSIGNED": _assigned, "TRANSFERRED": _transferred, "RESPONDED": _responded,
         "RESOLVED": _resolved, "REJECTED": _rejected, "REOPENED": _reopened, "FEEDBACK": _feedback}


def rejection_reply(event: dict, rejection: Rejection, now_ms: int) -> Output:
    """The ``CaseRejection`` for the sender of a refused CaseEvent, on the sender's own topic."""
    if event["actor_kind"] == "PLATFORM":
        topic = f"platform.{event['actor_id']}.case-rejections"
    else:
        topic = f"gov.units.{event['actor_id']}.case-rejections"
    return Output(topic, event["case_id"], {
        "event_id": event["event_id"], "case_id": event["case_id"], "reason": rejection.reason,
        "field": rejection.field, "message": rejection.message, "rejected_at": now_ms})
