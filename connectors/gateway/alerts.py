"""``POST /v1/alerts/cap``: a CAP 1.2 weather warning from an authenticated weather source.

The source sends ``Authorization: Bearer <token>``; its token's SHA-256 digest is configured in
``GIGBRIDGE_GATEWAY_CAP_SOURCE_TOKENS`` (JSON source name -> digest(s), the same form and
constant-time check as the platform tokens, :class:`connectors.gateway.config.TokenStore`).
The body is the XML document (``application/cap+xml``, ``application/xml`` or ``text/xml``),
read with the CAP size limit; it goes through :class:`streams.runtime.notices.intake.CapIntake`
(the same path as ``gigbridge alerts import``). Answers: 201 with the notice id, revision and
topics; 200 for a repeat (nothing published); a refused document is an RFC 9457 problem from
:class:`streams.core.notices.cap.CapProblem` (400 / 409 / 413 / 422) and nothing is published;
503 when Kafka did not acknowledge.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Sequence

from aiohttp import web

from gigbridge.logs import get_logger
from streams.core.notices.cap import CapProblem
from streams.runtime.notices.intake import CapIntake

from .body import read_body
from .config import TokenStore, _parse_token_json
from .problems import PROBLEM_CONTENT_TYPE, Problem
from .producer import ProduceError

log = get_logger("connectors.gateway.alerts")

CAP_MEDIA_TYPES = ("application/cap+xml", "application/xml", "text/xml")
SOURCE_KEY = web.RequestKey("gigbridge.gateway.cap_source", str)


def cap_sources_from(settings: Any) -> TokenStore:
    """The weather sources' token digests from ``settings.gateway_cap_source_tokens`` (none: empty)."""
    raw = getattr(settings, "gateway_cap_source_tokens", None)
    if raw is None:
        return TokenStore({})
    text = raw.get_secret_value() if hasattr(raw, "get_secret_value") else raw
    return TokenStore(_parse_token_json(text, "GIGBRIDGE_GATEWAY_CAP_SOURCE_TOKENS") if isinstance(text, str) else text)


class CapAlerts:
    """The handler; the intake is built on first use (no I/O at construction)."""

    def __init__(self, gateway: Any, sources: TokenStore, intake: CapIntake | None = None) -> None:
        self.gateway = gateway
        self.sources = sources
        self._intake = intake

    @property
    def intake(self) -> CapIntake:
        if self._intake is None:
            from streams.runtime.notices.kafka_edges import kafka_intake

            self._intake = kafka_intake(self.gateway.settings, self.gateway.ctx.division_exists, self._publish)
        return self._intake

    async def _publish(self, records: Sequence[tuple[str, bytes, bytes]]) -> None:
        from streams.runtime.notices.kafka_edges import grouped_by_topic

        timeout_s = self.gateway.config.produce_timeout_s
        for topic, pairs in grouped_by_topic(records).items():
            await self.gateway.producer.send_batch(topic, pairs, timeout_s)

    async def post(self, request: web.Request) -> web.Response:
        source = self._authenticate(request)
        request[SOURCE_KEY] = source
        if (request.content_type or "").lower() not in CAP_MEDIA_TYPES:
            raise Problem("unsupported-media-type", f"send the CAP document as one of {', '.join(CAP_MEDIA_TYPES)}")
        intake = self.intake
        if request.content_length is not None and request.content_length > intake.max_bytes:
            return _cap_problem(CapProblem("cap-too-large", f"the document is limited to {intake.max_bytes} bytes"),
                                request.path)
        try:
            # one byte over the limit is enough for parse_cap to refuse it as too large
            data = await read_body(request, intake.max_bytes + 1, self.gateway.config.body_timeout_s)
        except Problem as problem:
            if problem.slug != "body-too-large":
                raise
            return _cap_problem(CapProblem("cap-too-large", f"the document is limited to {intake.max_bytes} bytes"),
                                request.path)
        try:
            result = await intake.submit(data)
        except (ProduceError, OSError, TimeoutError, asyncio.TimeoutError) as exc:
            log.warning("CAP intake could not publish", source=source, error=f"{type(exc).__name__}: {exc}")
            retry = self.gateway.config.unavailable_retry_after_s
            raise Problem("kafka-unavailable", "the notice could not be published; nothing was accepted, retry",
                          headers={"Retry-After": str(retry)}, retry_after_s=retry) from None
        if result.problem is not None:
            log.info("CAP document refused", source=source, problem=result.problem.slug)
            return _cap_problem(result.problem, request.path)
        if result.repeat:
            return web.json_response({"status": "repeat", "published": []})
        first = result.records[0]
        log.info("CAP notice published", source=source, notice_id=first["notice_id"], revision=first["revision"],
                 topics=",".join(result.topics()))
        return web.json_response({"status": "published", "notice_id": first["notice_id"],
                                  "revision": first["revision"], "published": result.topics()}, status=201)

    def _authenticate(self, request: web.Request) -> str:
        scheme, _, token = (request.headers.get("Authorization") or "").strip().partition(" ")
        source = self.sources.platform_for(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if source is None:
            raise Problem("invalid-token", "a weather source's bearer token is required",
                          headers={"WWW-Authenticate": 'Bearer realm="gigbridge-cap", error="invalid_token"'})
        return source


def _cap_problem(problem: CapProblem, instance: str) -> web.Response:
    return web.Response(status=problem.status, text=json.dumps(problem.as_problem(instance)),
                        content_type=PROBLEM_CONTENT_TYPE)


def add_alert_routes(app: web.Application, gateway: Any, settings: Any, *, intake: CapIntake | None = None,
                     sources: TokenStore | None = None) -> CapAlerts:
    """Mount ``POST /v1/alerts/cap`` on the gateway ``app``."""
    alerts = CapAlerts(gateway, sources if sources is not None else cap_sources_from(settings), intake)
    app.router.add_post("/v1/alerts/cap", alerts.post)
    return alerts
