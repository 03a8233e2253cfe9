"""Case look-ups on the worker's Faust web server (next to ``/metrics``): ``GET /v1/cases/{case_id}``
and ``GET /v1/cases?division=…&overdue=true|false&status=…``, for a bearer token of a platform
(its gateway token, ``GIGBRIDGE_GATEWAY_TOKENS``) or of a handling unit
(``GIGBRIDGE_CASE_UNIT_TOKENS``: unit id -> SHA-256 digest(s)). Each viewer sees only the cases
``streams.core.cases.lookup.visible_to`` allows; an unknown case and a case not theirs are the
same 404. The single case is routed to the worker that owns its key (Faust's ``table_route``);
the list shows the cases of the partitions this worker owns (all of them with one worker).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Callable, Mapping

import faust

from streams.core.cases.lookup import Viewer, select, view, visible_to
from streams.core.cases.lifecycle import CaseState
from streams.runtime.cases.owner import CaseOwner

MAX_TOKEN_CHARS = 512


class CaseViewers:
    """Bearer tokens as SHA-256 digests, per viewer; a presented token is compared with every digest."""

    def __init__(self, digests: Mapping[Viewer, list[str]]) -> None:
        self._digests = [(bytes.fromhex(d), viewer) for viewer, ds in digests.items() for d in ds]

    @classmethod
    def from_json(cls, platforms: Mapping[str, str | list[str]], units: str | None) -> "CaseViewers":
        def listed(value) -> list[str]:
            return [value] if isinstance(value, str) else list(value)
        digests = {Viewer("PLATFORM", p): listed(d) for p, d in platforms.items()}
        digests.update({Viewer("UNIT", u): listed(d) for u, d in (json.loads(units) if units else {}).items()})
        return cls(digests)

    def viewer_for(self, authorization: str | None) -> Viewer | None:
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
            return None
        presented = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found = None
        for digest, viewer in self._digests:  # no early exit: the time does not say which matched
            if hmac.compare_digest(digest, presented):
                found = viewer
        return found


def _flag(value: str | None) -> bool | None:
    return None if value is None else value.lower() in ("1", "true", "yes")


def register_case_pages(app: faust.App, owner: CaseOwner, viewers: CaseViewers, clock: Callable[[], int]) -> None:
    def refused(web):
        return web.json({"title": "invalid-token", "detail": "send a platform's or unit's token as Bearer"},
                        status=401, headers={"WWW-Authenticate": 'Bearer realm="gigbridge-cases"'})

    @app.page("/v1/cases/{case_id}")
    @app.table_route(table=owner.table, match_info="case_id")
    async def one_case(web, request, case_id):
        viewer = viewers.viewer_for(request.headers.get("Authorization"))
        if viewer is None:
            return refused(web)
        stored = owner.table.get(case_id)
        if stored is None or not visible_to(state := CaseState.from_record(stored), viewer):
            return web.json({"title": "not-found", "detail": "no case with this id that you may see"}, status=404)
        return web.json(view(state, clock()))

    @app.page("/v1/cases")
    async def cases(web, request):
        viewer = viewers.viewer_for(request.headers.get("Authorization"))
        if viewer is None:
            return refused(web)
        q = request.query
        rows = select(owner.states(), viewer, clock(), division=q.get("division"), overdue=_flag(q.get("overdue")),
                      status=q.get("status"))
        return web.json({"cases": rows, "count": len(rows)})
