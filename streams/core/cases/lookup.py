"""Look-ups of case states (pure): who may see a case, the filtered list, and the view returned.

A platform sees the cases it is concerned by (``platform_id``) or submitted; a unit sees the
cases it handles or handled (routed, transferred, assigned) and those it submitted as a union or
office; an operator (``gigbridge cases list`` with the hub's own credentials) sees all. The view
is the ``CaseState`` without ``applied_event_ids`` (bookkeeping) plus ``overdue``: the deadlines
passed now. A ``CaseState`` carries no worker reference and no free text.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

from streams.core.cases.deadlines import pending
from streams.core.cases.lifecycle import CaseState

VIEWER_KINDS = ("PLATFORM", "UNIT", "OPERATOR")


class Viewer(NamedTuple):
    kind: str  # one of VIEWER_KINDS
    id: str


OPERATOR = Viewer("OPERATOR", "")


def visible_to(state: CaseState, viewer: Viewer) -> bool:
    if viewer.kind == "OPERATOR":
        return True
    if viewer.kind == "PLATFORM":
        return viewer.id == state.platform_id or (state.source_kind == "PLATFORM" and viewer.id == state.source_id)
    return (viewer.id in state.handling_units or viewer.id in state.co_units
            or (state.source_kind != "PLATFORM" and viewer.id == state.source_id))


def overdue_deadlines(state: CaseState, now_ms: int) -> list[str]:
    return [name for name, due in pending(state) if due <= now_ms]


def view(state: CaseState, now_ms: int) -> dict:
    record = state.as_record()
    del record["applied_event_ids"]
    return {**record, "overdue": overdue_deadlines(state, now_ms)}


def select(states: Iterable[CaseState], viewer: Viewer, now_ms: int, *, division: str | None = None,
           overdue: bool | None = None, status: str | None = None) -> list[dict]:
    """The views of the cases ``viewer`` may see, filtered: ``division`` is a prefix of the case's
    division code (a province, city, county or township), ``overdue`` True/False keeps the cases
    with/without a passed deadline; ordered by submission, then case id."""
    rows = []
    for state in states:
        if not visible_to(state, viewer) or (division and not state.division_code.startswith(division)):
            continue
        if status is not None and state.status != status:
            continue
        row = view(state, now_ms)
        if overdue is not None and bool(row["overdue"]) != overdue:
            continue
        rows.append(row)
    return sorted(rows, key=lambda r: (r["submitted_at"], r["case_id"]))


def latest(records: Iterable[dict]) -> list[CaseState]:
    """The newest state of each case from ``CaseState`` records in any order (a compacted topic read
    from the start may still hold older versions)."""
    newest: dict[str, dict] = {}
    for record in records:
        known = newest.get(record["case_id"])
        if known is None or record["version"] >= known["version"]:
            newest[record["case_id"]] = record
    return [CaseState.from_record(r) for r in newest.values()]
