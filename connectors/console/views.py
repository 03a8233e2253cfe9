"""The console's pages and actions; each one checks the signed-in unit's right to what it shows.

Incidents are the unit's when their division lies in its area (``area.in_unit_area``); cases when
``streams.core.cases.lookup.visible_to`` says so; anything else is the 404 page, like an unknown id.
An action answers with a redirect and a message (sent), or with the same page again (refused or
not acknowledged), its form filled with what was entered and the same event id.
"""

from __future__ import annotations

from typing import Any, Callable

from aiohttp import web

from connectors.console import actions
from connectors.console.actions import ACK_STREAM, CASE_STREAM, MAX_NOTE_CHARS, Outcome
from connectors.console.app import PREFIX, console_of, flash, render, see_other, unit_of
from connectors.console.area import area_grid, area_prefixes, in_unit_area
from connectors.console.data import IncidentRow
from streams.core.cases.deadlines import pending
from streams.core.cases.lifecycle import CaseState
from streams.core.cases.lookup import Viewer, visible_to

FAR_FUTURE = 2**62


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(f"{PREFIX}/", area_page)
    router.add_get(f"{PREFIX}/incidents", incidents_page)
    router.add_get(f"{PREFIX}/incidents/{{platform}}/{{incident}}", incident_page)
    router.add_post(f"{PREFIX}/incidents/{{platform}}/{{incident}}", incident_action)
    router.add_get(f"{PREFIX}/cases", cases_page)
    router.add_get(f"{PREFIX}/cases/{{case_id}}", case_page)
    router.add_post(f"{PREFIX}/cases/{{case_id}}", case_action)
    router.add_get(f"{PREFIX}/warnings", warnings_page)


# --- My area ---------------------------------------------------------------------------------

async def area_page(request: web.Request) -> web.Response:
    console, unit = console_of(request), unit_of(request)
    prefixes = area_prefixes(unit)
    policy = console.area_policy(unit)
    grid = area_grid(unit, await console.data.sites(prefixes), await console.data.headcounts(prefixes), policy)
    return await render(request, "area.html", {"grid": grid, "k": policy.k})


# --- Incidents -------------------------------------------------------------------------------

async def incidents_page(request: web.Request) -> web.Response:
    console, unit = console_of(request), unit_of(request)
    rows = [r for r in await console.data.incidents(area_prefixes(unit)) if in_unit_area(unit, r.division_code)]
    rows.sort(key=lambda r: (-r.occurred_at, r.key))
    return await render(request, "incidents.html", {"incidents": rows})


async def _own_incident(request: web.Request) -> IncidentRow:
    unit = unit_of(request)
    row = await console_of(request).data.incident(request.match_info["platform"], request.match_info["incident"])
    if row is None or not in_unit_area(unit, row.division_code):
        raise web.HTTPNotFound()
    return row


def _forms(legal: tuple[str, ...], entered: dict | None) -> dict[str, dict]:
    """One form per legal action, each with a fresh event id -- but the one just tried keeps its entry."""
    forms = {a: {"event_id": actions.new_event_id(), "note": "", "target_unit": ""} for a in legal}
    if entered is not None and entered["action"] in forms:
        forms[entered["action"]] = entered
    return forms


async def incident_page(request: web.Request, entered: dict | None = None, outcome: Outcome | None = None,
                        status: int = 200) -> web.Response:
    row = await _own_incident(request)
    forms = _forms(actions.legal_ack_actions(row.acks, unit_of(request).id), entered)
    return await render(request, "incident.html", {"incident": row, "forms": forms, "outcome": outcome}, status=status)


def _entered(form: Any, allowed: tuple[str, ...]) -> dict | None:
    """The action form's fields, or None when they cannot be an action of this page."""
    action, event_id = form.get("action"), actions.valid_event_id(form.get("event_id"))
    note, target = str(form.get("note") or "").strip(), str(form.get("target_unit") or "").strip()
    if action not in allowed or event_id is None or len(note) > MAX_NOTE_CHARS or len(target) > 64:
        return None
    return {"action": action, "event_id": event_id, "note": note, "target_unit": target}


Prepared = tuple[str, dict] | tuple[Outcome, int]  # (stream, event) to send, or (refusal, status) to show


async def _act(request: web.Request, allowed: tuple[str, ...], here: str, applied: tuple[str, ...], show: Callable,
               prepare: Callable[[dict], Prepared]) -> web.Response:
    """The shared course of an action form: parse, recognise a resubmission of an applied event,
    prepare the event (or refuse it), send it; redirect with a message when sent, else ``show``
    the page again with the entry kept."""
    entered = _entered(await request.post(), allowed)
    if entered is None:
        raise web.HTTPBadRequest(text="malformed action form")
    if entered["event_id"] not in applied:  # else: a resubmission of what the hub already applied
        first, second = prepare(entered)
        if isinstance(first, Outcome):
            return await show(request, entered, first, second)
        console = console_of(request)
        outcome = await actions.send(console.writes, unit_of(request).id, first, second)
        if outcome.kind != "sent":
            return await show(request, entered, outcome, 503 if outcome.kind == "unavailable" else 422)
    await flash(request, "submit.sent")
    raise see_other(here)


async def incident_action(request: web.Request) -> web.Response:
    console, unit = console_of(request), unit_of(request)
    row = await _own_incident(request)

    def prepare(entered: dict) -> Prepared:
        if entered["action"] not in actions.legal_ack_actions(row.acks, unit.id):
            return Outcome("refused", "illegal_transition"), 409
        target = entered["target_unit"] or None
        if entered["action"] == "REFERRED" and console.units.get(target or "") is None:
            return Outcome("refused", "unknown_unit"), 422
        return ACK_STREAM, actions.ack_event(row.platform_id, row.incident_id, unit.id, entered["action"],
                                             entered["event_id"], console.now_ms(), target, entered["note"])

    applied = row.acks.applied_event_ids if row.acks is not None else ()
    return await _act(request, actions.ACK_ACTIONS, f"{PREFIX}/incidents/{row.key}", applied, incident_page, prepare)


# --- Cases -----------------------------------------------------------------------------------

def next_deadline(state: CaseState) -> tuple[str, int] | None:
    due = pending(state)
    return min(due, key=lambda d: d[1]) if due else None


async def cases_page(request: web.Request) -> web.Response:
    console, unit = console_of(request), unit_of(request)
    viewer = Viewer("UNIT", unit.id)
    states = [s for s in await console.data.cases(unit.id) if visible_to(s, viewer)]
    rows = sorted(((s, next_deadline(s)) for s in states),
                  key=lambda r: ((r[1] or ("", FAR_FUTURE))[1], r[0].submitted_at, r[0].case_id))
    figures = await console.data.unit_figures(unit.id)
    return await render(request, "cases.html", {"rows": rows, "now": console.now_ms(), "figures": figures,
                                                "k": console.area_policy(unit).k})


async def _own_case(request: web.Request) -> CaseState:
    state = await console_of(request).data.case(request.match_info["case_id"])
    if state is None or not visible_to(state, Viewer("UNIT", unit_of(request).id)):
        raise web.HTTPNotFound()
    return state


async def case_page(request: web.Request, entered: dict | None = None, outcome: Outcome | None = None,
                    status: int = 200) -> web.Response:
    console, unit = console_of(request), unit_of(request)
    state = await _own_case(request)
    return await render(request, "case.html", {
        "case": state, "deadline": next_deadline(state), "now": console.now_ms(),
        "forms": _forms(actions.legal_case_actions(state, unit.id), entered),
        "needs_target": actions.NEEDS_TARGET, "history": await console.data.case_history(state.case_id),
        "outcome": outcome, "units": sorted(u for u in console.units.units if u != unit.id)}, status=status)


async def case_action(request: web.Request) -> web.Response:
    console, unit = console_of(request), unit_of(request)
    state = await _own_case(request)

    def prepare(entered: dict) -> Prepared:
        event = actions.case_event(state, unit.id, entered["action"], entered["event_id"], console.now_ms(),
                                   entered["target_unit"] or None, entered["note"])
        refusal = actions.precheck_case(state, event, console.units)
        return (CASE_STREAM, event) if refusal is None else (Outcome("refused", refusal.reason, refusal.message), 409)

    return await _act(request, actions.CASE_ACTIONS, f"{PREFIX}/cases/{state.case_id}", state.applied_event_ids,
                      case_page, prepare)


# --- Warnings --------------------------------------------------------------------------------

async def warnings_page(request: web.Request) -> web.Response:
    console, unit = console_of(request), unit_of(request)
    rows = await console.data.warnings(area_prefixes(unit), console.now_ms())
    rows.sort(key=lambda w: (-["BLUE", "YELLOW", "ORANGE", "RED"].index(w.level), -w.onset, w.notice_id))
    return await render(request, "warnings.html", {"warnings": rows})
