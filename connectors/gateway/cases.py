"""Concern cases over HTTP (issue #16, docs/cases.md): platforms submit cases and steps, handling
units answer.

* ``POST /v1/events/cases`` and ``POST /v1/events/case-events``: the platforms' ingest route
  (:meth:`connectors.gateway.app.Gateway.ingest`: same token, order of checks, bodies, 200/207
  answers and problems); each event is judged by :func:`judge_platform_case` -- the case record
  rules and "the source / actor is this platform", as the case intake judges
  ``platform.<id>.cases|case-events`` -- and the accepted ones are written to that topic, keyed by
  ``case_id``, in the Confluent wire format: exactly what a Kafka platform writes.
* ``POST /v1/units/{unit_id}/case-events`` and ``POST /v1/units/{unit_id}/incident-acks``: a
  unit's bearer token (``GIGBRIDGE_CASE_UNIT_TOKENS``). Order of checks, cheapest first: stream
  (404) -> token (401) -> the path's unit is the token's (403 ``wrong-unit``) and is in the units
  file (403 ``unknown-unit``) -> Content-Type (415) -> declared length (413) -> the unit's bucket
  empty / too many requests in flight (429; a unit's limits are its own, as a platform's) -> body read (413 / 408) -> parse (400, 413) -> rate limit for this many events
  (429) -> per event, what the intake checks on the unit's own topic (a step naming another unit
  as actor: ``unit_mismatch``) -> :class:`connectors.gateway.unit_writes.UnitSubmissions` writes
  the valid ones to ``hub.units.gateway`` and awaits every ack (503 otherwise). Answers as for
  platforms: 200 all accepted, 207 per-event ``reason``/``field``/``message``.
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from gigbridge.logs import get_logger
from streams.core.cases.flow import Sender
from streams.core.cases.gateway_input import UNIT_STREAMS, UNITS_GATEWAY_TOPIC
from streams.core.validate import Rejection

from .body import media_type_of, parse_events, read_body
from .config import TokenStore
from .problems import Problem
from .unit_writes import SubmissionNotSaved, UnitSubmissions, event_id_of, judge_case_input

__all__ = ["PLATFORM_CASE_STREAMS", "UNIT_ROUTE", "UnitCaseIngest", "add_unit_case_routes", "judge_platform_case"]

log = get_logger("connectors.gateway.cases")

#: The case streams a platform writes (``platform.<id>.<stream>``), posted to ``/v1/events/<stream>``.
PLATFORM_CASE_STREAMS = ("cases", "case-events")
UNIT_ROUTE = "/v1/units/{unit_id}/{stream}"
#: Reason codes of the case records besides those of the other event types (docs/cases.md).
CASE_REASON_CODES = {
    "invalid_case_id": "case_id is not a UUID", "unknown_unit": "a unit id is not in deploy/units.yaml",
    "source_mismatch": "a platform submits cases about itself only (platform_id = source_id)",
    "unit_mismatch": "the actor / unit_id is not the unit of the token",
    "empty_summary": "summary is blank", "text_too_long": "summary / note longer than 500 characters",
    "pii_detected": "summary / note carries a direct identifier",
    "invalid_target_unit": "target_unit set without ASSIGNED / TRANSFERRED / REFERRED, or missing with them",
    "invalid_reason_code": "reason_code set without REJECTED, or missing or unknown with it",
    "invalid_satisfaction": "satisfaction set without FEEDBACK, or missing or outside 1-5 with it",
}


def platform_case_topic(platform: str, stream: str) -> str:
    return f"platform.{platform}.{stream}"


def judge_platform_case(ctx: Any, units: Any, platform: str, stream: str,
                        event: dict, now_ms: int) -> tuple[str | None, tuple[bytes, bytes] | Rejection]:
    """(event id, (key, wire value) or the rule it breaks) of one event ``platform`` posted on
    ``stream``; the per-event judge of the ingest route for the case streams."""
    return event_id_of(event), judge_case_input(Sender("PLATFORM", platform, stream), event, ctx, units, now_ms)


class UnitCaseIngest:
    """The unit routes; ``gateway`` is the :class:`connectors.gateway.app.Gateway` (producer,
    clock, rules, limits), ``tokens`` the units' token store."""

    def __init__(self, gateway: Any, tokens: TokenStore) -> None:
        self.gateway, self.tokens = gateway, tokens

    @functools.cached_property
    def submissions(self) -> UnitSubmissions:  # built on the first request: the rules load files
        gw = self.gateway
        return UnitSubmissions(gw.producer, gw.ctx, gw.clock, units=gw.units, timeout_s=gw.config.produce_timeout_s)

    async def handle(self, request: web.Request) -> web.Response:
        stream = request.match_info["stream"]
        if stream not in UNIT_STREAMS:
            raise Problem("unknown-event-type", f"a unit posts {' or '.join(UNIT_STREAMS)}",
                          event_types=list(UNIT_STREAMS))
        unit = self.gateway.authenticate(request, self.tokens, who="unit")
        if request.match_info["unit_id"] != unit:
            raise Problem("wrong-unit", f"this token belongs to unit {unit!r}; it may write only as that unit")
        if not self.submissions.knows(unit):
            raise Problem("unknown-unit", f"unit {unit!r} has a token but is not in the units file")
        media_type = media_type_of(request)
        return await self.gateway.admitted(f"unit:{unit}", request,
                                           lambda: self._submit(request, media_type, unit, stream))

    async def _submit(self, request: web.Request, media_type: str, unit: str, stream: str) -> web.Response:
        cfg = self.gateway.config
        body = await read_body(request, cfg.max_body_bytes, cfg.body_timeout_s)
        events = parse_events(body, media_type, cfg.max_events)
        self.gateway.take_rate(f"unit:{unit}", len(events))
        try:
            outcomes = await self.submissions.submit(unit, stream, events)
        except SubmissionNotSaved as exc:
            log.warning("gateway produce failed", unit=unit, topic=UNITS_GATEWAY_TOPIC, events=len(events),
                        error=str(exc.__cause__), cause=getattr(self.gateway.producer, "last_error", None))
            raise self.gateway.unavailable(exc.__cause__ or exc) from None
        results = [o.as_dict() for o in outcomes]
        accepted = sum(1 for o in outcomes if o.status == "accepted")
        body = {"unit_id": unit, "type": stream, "topic": UNITS_GATEWAY_TOPIC, "accepted": accepted,
                "rejected": len(outcomes) - accepted, "results": results}
        return web.json_response(body, status=200 if accepted == len(outcomes) else 207)


def add_unit_case_routes(app: web.Application, gateway: Any, tokens: TokenStore) -> None:
    """Serve :data:`UNIT_ROUTE` on the gateway ``app`` for the units of ``tokens``."""
    app.router.add_post(UNIT_ROUTE, UnitCaseIngest(gateway, tokens).handle)
