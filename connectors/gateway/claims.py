"""Claim status over HTTP for the provincial insurers: ``POST /v1/insurance/{province}/claim-status``.

The insurer sends a JSON array (or JSON lines) of ``ClaimStatus`` updates with its bearer token
and an HMAC signature of the exact body bytes, in the scheme the hub uses toward insurers
(:mod:`connectors.signing`: ``X-Gigbridge-Timestamp``, ``X-Gigbridge-Signature: v1=<hex>``, 5
minutes of tolerance). The gateway checks, cheapest first: token (401 ``invalid-token``) ->
province of the path is the insurer's (403 ``wrong-province``) -> Content-Type (415) -> body read
(413 / 408) -> signature (401 ``invalid-signature``) -> parse (400) -> every update fits the
contract and its rules (400 ``invalid-claim-status``, per update ``reason``/``field``; nothing is
written) -> write all to ``hub.claim-status.gateway`` keyed by ``claim_ref``, each with the
verified province in the ``gigbridge-province`` header, and await every acknowledgement (503
``kafka-unavailable`` otherwise).

Why not the insurer's own topic: the gateway runs as the hub's Kafka principal, and the hub is
denied WRITE on every ``gov.insurance.<province>.claim-status`` so that it can never forge an
insurer's record; that topic stays writable only by its insurer. The gateway's topic has the same
key and partition count, and the worker's claims agent reads both, so a 200 means the updates are
where the agent judges them exactly like the insurer's Kafka records (one validation, one state
for both paths); refusals go to ``gov.insurance.<province>.claim-rejections``.

Credentials: ``GIGBRIDGE_GATEWAY_INSURERS`` (JSON) maps each insurer name of ``deploy/access.yaml``
to ``{"token_sha256": "<hex>", "signing_secret": "<secret>"}``; the province comes from the access
file, never from the request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from aiohttp import web

from connectors.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from schemas.wire import EncodeError, encode
from streams.core.cover.claim_flow import GATEWAY_CLAIM_STATUS_TOPIC, PROVINCE_HEADER
from streams.core.cover.claims import check_claim_status
from streams.core.validate import check_schema

from .body import media_type_of, parse_events, read_body
from .config import GatewayConfigError, TokenStore
from .problems import Problem
from .producer import ProduceError

__all__ = ["CLAIM_STATUS_ROUTE", "ClaimStatusIngest", "Insurer", "InsurerDirectory", "add_claim_status_route"]

CLAIM_STATUS_ROUTE = "/v1/insurance/{province}/claim-status"
CONTRACT = "claim_status"


@dataclass(frozen=True)
class Insurer:
    name: str
    province: str
    signing_secret: str


class InsurerDirectory:
    """Insurer tokens (stored as SHA-256 digests, checked like platform tokens) with each
    insurer's province and request-signing secret."""

    def __init__(self, insurers: Mapping[str, Insurer], token_digests: Mapping[str, str]) -> None:
        self._insurers = dict(insurers)
        self._tokens = TokenStore(token_digests)

    @classmethod
    def parse(cls, doc: Mapping[str, Any], provinces: Mapping[str, str]) -> "InsurerDirectory":
        """``doc``: name -> {token_sha256, signing_secret}; ``provinces``: name -> province (the
        access file's insurers). An insurer not in the access file is a start-up error."""
        insurers, digests = {}, {}
        for name, entry in doc.items():
            if name not in provinces:
                raise GatewayConfigError(f"gateway insurers: {name!r} is not an insurer of the access file")
            if not isinstance(entry, Mapping) or not isinstance(entry.get("signing_secret"), str) \
                    or not entry["signing_secret"]:
                raise GatewayConfigError(f"gateway insurers: {name}: needs token_sha256 and signing_secret")
            insurers[name] = Insurer(name, provinces[name], entry["signing_secret"])
            digests[name] = entry.get("token_sha256")
        return cls(insurers, digests)

    @classmethod
    def from_settings(cls, settings: Any) -> "InsurerDirectory":
        raw = getattr(settings, "gateway_insurers", None) if settings is not None else None
        if raw is None:
            return cls({}, {})
        from gigbridge.access import load_access

        text = raw.get_secret_value() if hasattr(raw, "get_secret_value") else raw
        try:
            doc = json.loads(text) if isinstance(text, str) else text
        except json.JSONDecodeError as exc:
            raise GatewayConfigError(f"GIGBRIDGE_GATEWAY_INSURERS is not valid JSON: {exc.msg}") from None
        return cls.parse(doc, {i.name: i.province for i in load_access().insurers})

    @property
    def tokens(self) -> TokenStore:
        """The insurers' tokens; the owner a token resolves to is an insurer name."""
        return self._tokens

    def by_name(self, name: str) -> Insurer:
        return self._insurers[name]


class ClaimStatusIngest:
    """The handler; ``gateway`` is the :class:`connectors.gateway.app.Gateway` (producer, clock,
    catalog, limits, rules)."""

    def __init__(self, gateway: Any, insurers: InsurerDirectory) -> None:
        self.gateway = gateway
        self.insurers = insurers

    async def handle(self, request: web.Request) -> web.Response:
        insurer = self.insurers.by_name(self.gateway.authenticate(request, self.insurers.tokens, who="insurer"))
        province = request.match_info["province"]
        if province != insurer.province:
            raise Problem("wrong-province", f"this token belongs to the insurer of province {insurer.province}; "
                          "it may write only that province's claim status")
        media_type = media_type_of(request)
        cfg = self.gateway.config
        body = await read_body(request, cfg.max_body_bytes, cfg.body_timeout_s)
        now_s = self.gateway.clock()
        if not verify_signature(insurer.signing_secret, request.headers.get(TIMESTAMP_HEADER), body,
                                request.headers.get(SIGNATURE_HEADER), now_s):
            raise Problem("invalid-signature", f"{SIGNATURE_HEADER} is not a valid v1 signature of this body at "
                          f"{TIMESTAMP_HEADER} (within 5 minutes of now)")
        updates = parse_events(body, media_type, cfg.max_events)
        records = self.validate(updates, int(now_s * 1000))
        topic = GATEWAY_CLAIM_STATUS_TOPIC
        try:
            await self.gateway.producer.send_batch(topic, records, cfg.produce_timeout_s,
                                                   headers=[(PROVINCE_HEADER, province.encode("ascii"))])
        except ProduceError as exc:
            retry = cfg.unavailable_retry_after_s
            raise Problem("kafka-unavailable", f"the updates could not be written ({exc}); nothing was accepted, "
                          "retry the whole request", headers={"Retry-After": str(retry)},
                          retry_after_s=retry) from None
        return web.json_response({"insurer": insurer.name, "topic": topic, "accepted": len(records)})

    def validate(self, updates: list[dict], now_ms: int) -> list[tuple[bytes, bytes]]:
        """(key, wire value) of every update, or 400 listing every invalid one."""
        version = self.gateway.catalog.contract(CONTRACT).latest
        records, invalid = [], []
        for index, update in enumerate(updates):
            rejection = check_schema(version, update) or check_claim_status(update, now_ms=now_ms,
                                                                              rules=self.gateway.ctx.rules)
            if rejection is None:
                try:
                    records.append((update["claim_ref"].encode("utf-8"), encode(version, update)))
                    continue
                except EncodeError as exc:
                    invalid.append({"index": index, "reason": "schema_violation", "field": exc.field,
                                    "message": exc.message})
                    continue
            invalid.append({"index": index, "reason": rejection.reason, "field": rejection.field,
                            "message": rejection.message})
        if invalid:
            raise Problem("invalid-claim-status", f"{len(invalid)} of {len(updates)} update(s) are invalid; "
                          "nothing was written", errors=invalid[:100])
        return records


def add_claim_status_route(app: web.Application, gateway: Any, insurers: InsurerDirectory) -> None:
    """Serve :data:`CLAIM_STATUS_ROUTE` on the gateway ``app`` for ``insurers``."""
    app.router.add_post(CLAIM_STATUS_ROUTE, ClaimStatusIngest(gateway, insurers).handle)


def add_claim_status_openapi(doc: dict[str, Any], catalog: Any, config: Any) -> None:
    """Add the insurer route, the ``ClaimStatus`` schema and the insurer token scheme to an
    OpenAPI document built by :func:`connectors.gateway.openapi.build_openapi`."""
    from .avro_jsonschema import avro_to_json_schema
    from .openapi import _RETRY_AFTER, _problem_response, _ref

    version = catalog.contract(CONTRACT).latest
    schema = avro_to_json_schema(version.schema)
    schema["description"] = f"{schema.get('description', '')} Schema id {version.schema_id}.".strip()
    doc["components"]["schemas"]["ClaimStatus"] = schema
    doc["components"]["securitySchemes"]["insurerAuth"] = {
        "type": "http", "scheme": "bearer",
        "description": "the insurer's gateway token (issued by the hub); the body must also be signed"}
    doc["paths"][CLAIM_STATUS_ROUTE] = {"post": {
        "operationId": "insurer_claim_status",
        "tags": ["insurers"],
        "summary": "Publish claim status updates (provincial insurers)",
        "description": (
            "Signed like the hub's own deliveries to insurers: `X-Gigbridge-Timestamp` (unix seconds, within "
            "5 minutes) and `X-Gigbridge-Signature: v1=<hex HMAC-SHA256(signing secret, timestamp + '.' + "
            "body)>` over the exact body bytes. Every update is checked against the ClaimStatus contract and "
            "its rules; all valid ones are written to the hub's `hub.claim-status.gateway` (keyed by "
            "`claim_ref`, with the insurer's province) and acknowledged before the answer; the hub's claims "
            "stream reads it beside `gov.insurance.<province>.claim-status`, decides whether each transition "
            "is legal and writes refusals to `gov.insurance.<province>.claim-rejections`."),
        "security": [{"insurerAuth": []}],
        "parameters": [{"name": "province", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9]{2}$"}}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"type": "array", "minItems": 1, "maxItems": config.max_events,
                                             "items": _ref("ClaimStatus")}},
            "application/x-ndjson": {"schema": {"type": "string",
                                                "description": "one ClaimStatus JSON object per line"}}}},
        "responses": {
            "200": {"description": "every update is in the hub's claim-status topic for the claims stream (acks=all)",
                    "content": {"application/json": {"schema": {
                        "type": "object", "required": ["insurer", "topic", "accepted"],
                        "properties": {"insurer": {"type": "string"}, "topic": {"type": "string"},
                                       "accepted": {"type": "integer", "minimum": 1}}}}}},
            "400": _problem_response("an update breaks the contract or a rule (`errors`: index, reason, field, "
                                     "message of each); or a malformed body. Nothing was written",
                                     ["invalid-claim-status", "malformed-body", "empty-batch"]),
            "401": _problem_response("missing or invalid insurer token, or a signature that does not match",
                                     ["missing-token", "invalid-token", "invalid-signature"]),
            "403": _problem_response("the path names another province than the insurer's", ["wrong-province"]),
            "408": _problem_response("the body did not arrive in time", ["body-timeout"]),
            "413": _problem_response("body or batch too large", ["body-too-large", "too-many-events"]),
            "415": _problem_response("Content-Type is not JSON or JSON lines", ["unsupported-media-type"]),
            "503": _problem_response("Kafka did not acknowledge every update; retry the whole request",
                                     ["kafka-unavailable"], _RETRY_AFTER),
        },
    }}
