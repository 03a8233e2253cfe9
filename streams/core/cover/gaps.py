"""Every order insured, checked: insured incidents without matching cover (``CoverGap``).

An ``IncidentReport`` with ``insured = true`` matches cover when

* it names an ``order_ref`` and an OrderCover of that order was counted for the same platform
  and worker (the link is that order's worker-day), or
* it names no order and the worker has a cover day (at least one order) with that platform, in
  the incident's province, on the incident's CST date.

Orders are published when they end, so an incident may arrive before its order: an unmatched
incident waits until its day has closed plus the grace (the same grace as the day cover) and
is re-checked by every :func:`~streams.core.cover.daycover.close_due`. A match gives a
:class:`CoverLink` (the cover the incident carries to the insurer); no match by the deadline
gives a ``CoverGap`` record for the insurer and the platform. Each incident event is decided
once: a replay of it (same ``event_id``) emits nothing; :func:`match_cover` answers the same
question without changing the state. Uninsured incidents are not checked (a platform that does
not claim cover is not contradicted by a gap).
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.core.cover.cst import day_end_ms, service_date
from streams.core.cover.emits import DEFAULT_GRACE_MS, Emit
from streams.core.cover.orders import province_of
from streams.core.cover.state import CoverState, DayKey, PendingIncident


@dataclass(frozen=True, slots=True)
class CoverLink:
    """The cover an insured incident matched: the worker-day and, if named, the order."""

    incident_event_id: str
    incident_id: str
    day: DayKey
    order_ref: str | None


def check_incident(state: CoverState, incident: dict, now_ms: int,
                   grace_ms: int = DEFAULT_GRACE_MS) -> tuple[CoverState, list]:
    """Check one validated IncidentReport: emits a CoverLink, a CoverGap record (deadline past),
    or nothing (insured=false, an incident already pending, or waiting for late orders)."""
    event_id = incident["event_id"]
    if not incident["insured"] or event_id in state.pending_incidents or event_id in state.decided_incidents:
        return state, []
    deadline = day_end_ms(service_date(incident["occurred_at"])) + grace_ms
    outcome = match_cover(state, incident)
    if isinstance(outcome, CoverLink):
        return _decided(state, incident), [outcome]
    if now_ms >= deadline:
        return _decided(state, incident), [_gap_record(incident, outcome, now_ms)]
    state.pending_incidents[event_id] = PendingIncident(incident, deadline)
    return state, []


def recheck_pending(state: CoverState, now_ms: int) -> tuple[CoverState, list]:
    """Resolve pending incidents: a link if cover has arrived, a gap once the deadline passed."""
    emits: list = []
    for event_id in sorted(state.pending_incidents):
        pending = state.pending_incidents[event_id]
        outcome = match_cover(state, pending.record)
        if isinstance(outcome, CoverLink):
            emits.append(outcome)
        elif now_ms >= pending.deadline_ms:
            emits.append(_gap_record(pending.record, outcome, now_ms))
        else:
            continue
        del state.pending_incidents[event_id]
        _decided(state, pending.record)
    return state, emits


def forget_decided(state: CoverState, before_date: str) -> CoverState:
    """Drop the replay memory of incidents dated before ``before_date`` (YYYY-MM-DD)."""
    # in place, not a new dict: the runtime keeps this mapping on disk (streams.runtime.cover_state)
    for event_id in [k for k, d in state.decided_incidents.items() if d < before_date]:
        del state.decided_incidents[event_id]
    return state


def _decided(state: CoverState, incident: dict) -> CoverState:
    state.decided_incidents[incident["event_id"]] = service_date(incident["occurred_at"])
    return state


def match_cover(state: CoverState, incident: dict) -> CoverLink | str:
    """The cover an incident matches now, or the kind of gap (a CoverGapKind symbol)."""
    platform, worker, order_ref = incident["platform_id"], incident["worker_ref"], incident.get("order_ref")
    if order_ref is not None:
        seen = state.orders.get(order_ref)
        if seen is None:
            return "ORDER_NOT_COVERED"
        if (seen.day.platform_id, seen.day.worker_ref) != (platform, worker):
            return "ORDER_OF_ANOTHER_WORKER"
        return CoverLink(incident["event_id"], incident["incident_id"], seen.day, order_ref)
    day = DayKey(platform, province_of(incident["division_code"]), worker, service_date(incident["occurred_at"]))
    cover = state.days.get(day)
    if cover is None or cover.orders == 0:
        return "NO_DAY_COVER"
    return CoverLink(incident["event_id"], incident["incident_id"], day, None)


def _gap_record(incident: dict, gap: str, now_ms: int) -> Emit:
    province = province_of(incident["division_code"])
    record = {
        "platform_id": incident["platform_id"], "province": province, "incident_id": incident["incident_id"],
        "incident_event_id": incident["event_id"], "worker_ref": incident["worker_ref"],
        "order_ref": incident.get("order_ref"), "service_date": service_date(incident["occurred_at"]),
        "gap": gap, "occurred_at": incident["occurred_at"], "detected_at": now_ms,
    }
    return Emit("cover_gap", (f"gov.insurance.{province}.cover-gaps", f"platform.{incident['platform_id']}.cover-gaps"),
                f"{incident['platform_id']}:{incident['incident_id']}", record)
