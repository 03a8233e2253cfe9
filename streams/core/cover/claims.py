"""Claim status from the insurers (``ClaimStatus``): validation, lifecycle, deadline.

Lifecycle (one claim, identified by ``claim_ref``)::

    RECEIVED -> UNDER_REVIEW -> DETERMINED(ACCEPTED | DENIED, reason) -> PAID (only if ACCEPTED)

:func:`apply_claim_status` is the whole state machine: a legal update moves the claim on and is
routed to ``platform.<id>.claims`` keyed by the incident; an exact repeat of the current status
is idempotent (nothing changes, nothing is routed); anything else is refused with a reason code
and leaves the claim as it was. A determination is due within 5 working days of receipt
(:mod:`streams.core.cover.workdays`); :func:`determination_overdue` says when it is late.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from streams.core.cover.workdays import WorkCalendar, determination_due
from streams.core.validate import (
    DEFAULT_RULES,
    Rejection,
    Rules,
    event_id_check,
    identifier_check,
    platform_check,
    time_window_check,
)

STATUSES = ("RECEIVED", "UNDER_REVIEW", "DETERMINED", "PAID")
#: The one legal next status of each status (None: no update seen yet).
NEXT_STATUS: dict[str | None, str | None] = {
    None: "RECEIVED", "RECEIVED": "UNDER_REVIEW", "UNDER_REVIEW": "DETERMINED", "DETERMINED": "PAID", "PAID": None,
}
#: Reason codes of refused transitions.
ILLEGAL_REASONS = ("claim_not_received", "status_skipped", "status_regression", "decision_changed",
                   "paid_after_denial", "claim_incident_mismatch")
CLAIM_REF_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
REASON_CODE_RE = re.compile(r"[A-Z0-9_]{1,32}")
OPEN_STATUSES = ("RECEIVED", "UNDER_REVIEW")


@dataclass(frozen=True, slots=True)
class ClaimState:
    """What the hub remembers of one claim (plain, immutable; replaced on every change)."""

    claim_ref: str
    platform_id: str
    incident_id: str
    status: str
    decision: str | None
    reason_code: str | None
    received_at: int | None


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    """``routed``: the update is new and legal; ``repeat``: an exact repeat, dropped;
    ``illegal``: refused with ``reason``. ``state`` is the claim after the update."""

    kind: Literal["routed", "repeat", "illegal"]
    state: ClaimState | None
    reason: str | None = None


def check_claim_status(record: dict, *, now_ms: int, rules: Rules = DEFAULT_RULES) -> Rejection | None:
    """Rules of a schema-valid ClaimStatus taken alone (the transition is checked statefully)."""
    for check in (event_id_check, platform_check, time_window_check("occurred_at")):
        rejection = check(record, now_ms, None, None, rules)
        if rejection is not None:
            return rejection
    if not CLAIM_REF_RE.fullmatch(record["claim_ref"]):
        return Rejection("invalid_claim_ref", "claim_ref", "claim_ref must be 1 to 64 characters of [A-Za-z0-9-]")
    determined = record["status"] == "DETERMINED"
    if (record.get("decision") is not None) != determined:
        return Rejection("invalid_claim_decision", "decision", "decision is set if and only if status is DETERMINED")
    reason = record.get("reason_code")
    if (reason is not None) != (record.get("decision") == "DENIED"):
        return Rejection("invalid_reason_code", "reason_code", "a denial needs a reason_code; nothing else has one")
    if reason is not None and not REASON_CODE_RE.fullmatch(reason):
        return Rejection("invalid_reason_code", "reason_code", "reason_code must be 1 to 32 characters of [A-Z0-9_]")
    return identifier_check(record, now_ms, None, None, rules)


def apply_claim_status(state: ClaimState | None, update: dict) -> ClaimOutcome:
    """The claim after a (validated) update: see the module docstring for the rules."""
    status, decision = update["status"], update.get("decision")
    if state is not None and (state.platform_id, state.incident_id) != (update["platform_id"], update["incident_id"]):
        return ClaimOutcome("illegal", state, "claim_incident_mismatch")
    current = None if state is None else state.status
    if current == status:
        if status == "DETERMINED" and (decision, update.get("reason_code")) != (state.decision, state.reason_code):
            return ClaimOutcome("illegal", state, "decision_changed")
        return ClaimOutcome("repeat", state)
    if status != NEXT_STATUS[current]:
        return ClaimOutcome("illegal", state, _why_not(current, status))
    if status == "PAID" and state.decision != "ACCEPTED":
        return ClaimOutcome("illegal", state, "paid_after_denial")
    if state is None:
        new = ClaimState(update["claim_ref"], update["platform_id"], update["incident_id"], status, None, None,
                         update["occurred_at"])
    else:
        new = replace(state, status=status, decision=decision or state.decision,
                      reason_code=update.get("reason_code") or state.reason_code)
    return ClaimOutcome("routed", new)


def _why_not(current: str | None, status: str) -> str:
    if current is None:
        return "claim_not_received"
    return "status_regression" if STATUSES.index(status) < STATUSES.index(current) else "status_skipped"


def determination_overdue(state: ClaimState, now_ms: int, calendar: WorkCalendar) -> bool:
    """An open claim (RECEIVED or UNDER_REVIEW) past its 5-working-day determination deadline."""
    return (state.status in OPEN_STATUSES and state.received_at is not None
            and now_ms >= determination_due(state.received_at, calendar))


def claims_topic(platform_id: str) -> str:
    """Where routed updates go; the record key is the incident_id."""
    return f"platform.{platform_id}.claims"
