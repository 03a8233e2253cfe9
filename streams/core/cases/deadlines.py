"""Deadline breaches for timers: which open cases are past which deadline, and when to look next.

A case's deadlines (``accept_due``, ``response_due``, ``resolution_due``) are fixed when its round
starts (:mod:`.lifecycle`), so a timer needs only the states and the clock -- no event has to
arrive for a breach to be found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from streams.core.cases.lifecycle import CLOSED, CaseState

DEADLINES = ("accept", "response", "resolution")


@dataclass(frozen=True, slots=True)
class Breach:
    case_id: str
    urgency: str
    deadline: str  # one of DEADLINES
    unit: str  # the assigned unit when the breach is seen
    due: int


def pending(state: CaseState) -> list[tuple[str, int]]:
    """The deadlines of ``state`` not yet met, as (deadline, due) pairs."""
    if state.status in CLOSED:
        return []
    out = []
    if state.accepted_at is None:
        out.append(("accept", state.accept_due))
    if state.responded_at is None:
        out.append(("response", state.response_due))
    out.append(("resolution", state.resolution_due))
    return out


def overdue(states: Iterable[CaseState], now_ms: int) -> list[Breach]:
    """Every deadline breached at ``now_ms`` by an open case, ordered by due time then case."""
    found = [Breach(s.case_id, s.urgency, name, s.assigned_unit, due)
             for s in states for name, due in pending(s) if due <= now_ms]
    return sorted(found, key=lambda b: (b.due, b.case_id, DEADLINES.index(b.deadline)))


def next_due(state: CaseState, now_ms: int) -> int | None:
    """When a timer should next look at ``state``: its earliest pending deadline still ahead, or None."""
    ahead = [due for _, due in pending(state) if due > now_ms]
    return min(ahead) if ahead else None
