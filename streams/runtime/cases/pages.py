"""Case look-ups on the worker's Faust web server (next to ``/metrics``): ``GET /v1/cases/{case_id}``
and ``GET /v1/cases?division=…&overdue=true|false&status=…``, for a bearer token of a platform
(its gateway token, ``GIGBRIDGE_GATEWAY_TOKENS``) or of a handling unit
(``GIGBRIDGE_CASE_UNIT_TOKENS``: unit id -> SHA-256 digest(s)). Each viewer sees only the cases
``streams.core.cases.lookup.visible_to`` allows; an unknown case and a case not theirs are the
same 404. The single case is routed to the worker that owns its key (Faust's ``table_route``);
the list shows the cases of the partitions this worker owns (all of them with one worker).
"""

from __future__ import annotations

from typing import Callable

import faust

from connectors.gateway.config import GatewayConfig, TokenStore, bearer_token, unit_token_store
from streams.core.cases.lookup import Viewer, select, view, visible_to
from streams.core.cases.lifecycle import CaseState
from streams.runtime.cases.owner import CaseOwner


class CaseViewers:
    """Whose a bearer token is: a platform's (its gateway token) or a handling unit's
    (``GIGBRIDGE_CASE_UNIT_TOKENS``), checked by the gateway's token stores (SHA-256 digests,
    constant time; both stores are always asked, so the time does not say which matched)."""

    def __init__(self, platforms: TokenStore, units: TokenStore) -> None:
        self.platforms, self.units = platforms, units

    @classmethod
    def from_settings(cls, settings) -> "CaseViewers":
        return cls(GatewayConfig.from_settings(settings).token_store(), unit_token_store(settings))

    def viewer_for(self, authorization: str | None) -> Viewer | None:
        token = bearer_token(authorization)
        if token is None:
            return None
        platform, unit = self.platforms.platform_for(token), self.units.platform_for(token)
        if platform is not None:
            return Viewer("PLATFORM", platform)
        return Viewer("UNIT", unit) if unit is not None else None


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
