"""The gateway's OpenAPI 3.1 document (``GET /openapi.json``).

Request bodies are derived from the LATEST version of each event contract in the catalog
(:mod:`connectors.gateway.avro_jsonschema`), so the document cannot drift from the contracts.
"""

from __future__ import annotations

from typing import Any

from schemas.catalog import Catalog
from streams.core.validate import CONTRACT_BY_EVENT_TYPE, EVENT_TYPES, INGEST_KEY_FIELD

from .avro_jsonschema import avro_to_json_schema
from .body import MAX_EVENT_DEPTH
from .config import GatewayConfig
from .problems import PROBLEM_BASE, PROBLEM_CONTENT_TYPE, PROBLEM_TYPES

__all__ = ["REASON_CODES", "build_openapi"]

REASON_CODES = {
    "schema_violation": "the event does not fit the contract (missing/unknown field, wrong type, unknown enum symbol)",
    "invalid_event_id": "event_id is not a UUID (8-4-4-4-12 hex)",
    "invalid_platform_id": "platform_id does not match ^[a-z][a-z0-9-]{1,31}$",
    "platform_mismatch": "platform_id differs from the platform of the topic / token",
    "invalid_division_code": "division_code is not 12 ASCII digits",
    "unknown_division_code": "division_code is not an NBS 2023 statistical division",
    "timestamp_in_future": "a timestamp is more than 5 minutes ahead of the hub's clock",
    "timestamp_too_old": "a timestamp is more than 90 days old",
    "invalid_period": "period_end is not after period_start (orders: accepted_at <= finished_at <= occurred_at)",
    "period_too_long": "the period is longer than 31 days (orders: over 24 hours from acceptance to the end)",
    "negative_count": "a count is negative",
    "status_sum_mismatch": "employed + non_standard + independent differs from active_workers",
    "count_exceeds_active": "insured_workers or long_hours_workers exceeds active_workers",
    "invalid_pseudonym": "worker_ref / order_ref is not 64 lowercase hex characters",
    "description_too_long": "description is longer than 500 characters",
    "invalid_coordinates": "location.lat / location.lon out of range",
    "invalid_key_id": "site_id / incident_id is empty or longer than 128 characters",
    "invalid_order_state": "finished_at is null for a completed order or set for a cancelled one",
    "premium_mismatch": "premium_fen / rate_version differ from the cover rate in force at accepted_at",
}

REGISTRY_CT = "application/vnd.schemaregistry.v1+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem_response(description: str, slugs: list[str], headers: dict | None = None) -> dict[str, Any]:
    types = ", ".join(f"`{PROBLEM_BASE}{s}`" for s in slugs)
    resp: dict[str, Any] = {
        "description": f"{description} ({types})",
        "content": {PROBLEM_CONTENT_TYPE: {"schema": _ref("Problem")}},
    }
    if headers:
        resp["headers"] = headers
    return resp


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                                "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
_WWW_AUTH = {"WWW-Authenticate": {"description": "`Bearer realm=\"gigbridge\"` (with `error=\"invalid_token\"` "
                                                 "for a token that is not valid)", "schema": {"type": "string"}}}


def _registry_error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {REGISTRY_CT: {"schema": _ref("RegistryError")}}}


def _registry_ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {REGISTRY_CT: {"schema": schema}}}


def build_openapi(catalog: Catalog, config: GatewayConfig, *, registry_prefix: str | None = "/registry",
                  server_url: str | None = None) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    event_schema_names: dict[str, str] = {}
    for event_type in EVENT_TYPES:
        contract = catalog.contract(CONTRACT_BY_EVENT_TYPE[event_type])
        version = contract.latest
        name = contract.full_name.rsplit(".", 1)[-1]
        converted = avro_to_json_schema(version.schema)
        converted["description"] = (f"{converted.get('description', '')} Contract {contract.name} "
                                    f"v{version.version} (schema id {version.schema_id}).").strip()
        schemas[name] = converted
        event_schema_names[event_type] = name

    schemas["EventResult"] = {
        "type": "object",
        "description": "Outcome of one event of the request, in input order.",
        "properties": {
            "index": {"type": "integer", "minimum": 0, "description": "0-based position in the request"},
            "event_id": {"type": ["string", "null"], "description": "the event's event_id if it could be read"},
            "status": {"type": "string", "enum": ["accepted", "rejected"]},
            "reason": {"type": "string", "description": "rejected only: reason code (see the API description)"},
            "field": {"type": ["string", "null"], "description": "rejected only: offending field path, e.g. location.lat"},
            "message": {"type": "string", "description": "rejected only: what is wrong (never quotes the value)"},
        },
        "required": ["index", "event_id", "status"],
        "additionalProperties": False,
    }
    schemas["BatchResult"] = {
        "type": "object",
        "properties": {
            "platform_id": {"type": "string"},
            "type": {"type": "string", "enum": list(EVENT_TYPES)},
            "topic": {"type": "string", "description": "the Kafka topic accepted events were written to"},
            "accepted": {"type": "integer", "minimum": 0},
            "rejected": {"type": "integer", "minimum": 0},
            "results": {"type": "array", "items": _ref("EventResult")},
        },
        "required": ["platform_id", "type", "topic", "accepted", "rejected", "results"],
        "additionalProperties": False,
    }
    schemas["Problem"] = {
        "type": "object",
        "description": "RFC 9457 problem details. Extension members: `line` (malformed JSON line), `index` / "
                       "`indexes` (offending events), `limit_bytes`, `max_depth`, `max_events`, `retry_after_s`, "
                       "`supported`.",
        "properties": {
            "type": {"type": "string", "format": "uri", "enum": [PROBLEM_BASE + s for s in PROBLEM_TYPES]},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
        },
        "required": ["type", "title", "status", "detail", "instance"],
        "additionalProperties": True,
    }
    schemas["Health"] = {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}
    schemas["RegistryError"] = {
        "type": "object",
        "properties": {"error_code": {"type": "integer"}, "message": {"type": "string"}},
        "required": ["error_code", "message"],
    }
    schemas["RegisteredSchema"] = {
        "type": "object",
        "properties": {"subject": {"type": "string"}, "version": {"type": "integer"}, "id": {"type": "integer"},
                       "schema": {"type": "string", "description": "the Avro schema as a JSON string"}},
        "required": ["subject", "version", "id", "schema"],
    }
    schemas["SchemaRequest"] = {
        "type": "object",
        "properties": {"schema": {"type": "string"}, "schemaType": {"type": "string", "enum": ["AVRO"]},
                       "references": {"type": "array", "items": {"type": "object"}}},
        "required": ["schema"],
    }

    batch_responses = {
        "200": {"description": "every event was accepted and acknowledged by Kafka (acks=all)",
                "content": {"application/json": {"schema": _ref("BatchResult")}}},
        "207": {"description": "Multi-Status: some or all events were rejected; accepted ones are in Kafka. "
                               "Fix and re-send only the rejected ones.",
                "content": {"application/json": {"schema": _ref("BatchResult")}}},
        "400": _problem_response("malformed body: not JSON (RFC 8259: NaN and Infinity are not JSON), not an "
                                 "array of objects, a bad JSON line, an event nesting objects and arrays more "
                                 f"than {MAX_EVENT_DEPTH} levels deep (`max_depth`), no events, "
                                 "or a body cut short; or a request that is not valid HTTP/1.1 (the connection "
                                 "is closed)", ["malformed-body", "empty-batch", "incomplete-body",
                                                "malformed-request"]),
        "401": _problem_response("missing or invalid bearer token", ["missing-token", "invalid-token"], _WWW_AUTH),
        "403": _problem_response("an event claims another platform's platform_id; nothing was written",
                                 ["platform-mismatch"]),
        "408": _problem_response("the body did not arrive in time", ["body-timeout"]),
        "413": _problem_response(f"body over {config.max_body_bytes} bytes or more than {config.max_events} events",
                                 ["body-too-large", "too-many-events"]),
        "415": _problem_response("Content-Type is not application/json or application/x-ndjson (UTF-8)",
                                 ["unsupported-media-type"]),
        "429": _problem_response("over the platform's rate limit or concurrent-request limit; nothing was written",
                                 ["rate-limited", "too-many-concurrent-requests"], _RETRY_AFTER),
        "503": _problem_response("Kafka did not acknowledge every accepted event in time; NOTHING is reported "
                                 "accepted, retry the whole request (repeats are dropped by event_id). Or the "
                                 "gateway is at its connection limit with every connection busy (the connection "
                                 "is closed)", ["kafka-unavailable", "too-many-connections"], _RETRY_AFTER),
    }

    paths: dict[str, Any] = {}
    for event_type in EVENT_TYPES:
        name = event_schema_names[event_type]
        key_field = INGEST_KEY_FIELD[event_type]
        paths[f"/v1/events/{event_type}"] = {"post": {
            "operationId": f"ingest_{event_type}",
            "tags": ["ingest"],
            "summary": f"Publish {name} events",
            "description": (
                f"Validates each event synchronously (the same checks as the hub's stream) and writes the "
                f"accepted ones to `platform.<your platform>.{event_type}`, keyed by `{key_field}`, in the "
                f"Confluent wire format with schema id {catalog.contract(CONTRACT_BY_EVENT_TYPE[event_type]).latest.schema_id}. "
                f"The response comes after Kafka acknowledged all of them. Up to {config.max_events} events "
                f"and {config.max_body_bytes} bytes per request; rate limit {config.rate_events_per_s:g} events/s "
                f"per platform (burst {config.rate_burst})."),
            "security": [{"bearerAuth": []}],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"type": "array", "minItems": 1, "maxItems": config.max_events,
                                                 "items": _ref(name)}},
                "application/x-ndjson": {"schema": {
                    "type": "string",
                    "description": f"one {name} JSON object per line (UTF-8); blank lines are ignored"}},
            }},
            "responses": batch_responses,
        }}
    paths["/v1/events/{type}"] = {"post": {
        "operationId": "ingest_unknown_type",
        "tags": ["ingest"],
        "summary": "Any other event type",
        "description": f"Only {', '.join(EVENT_TYPES)} exist; anything else is 404.",
        "parameters": [{"name": "type", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": "^[a-z]{1,20}$", "not": {"enum": list(EVENT_TYPES)}}}],
        "responses": {"404": _problem_response("unknown event type", ["unknown-event-type", "not-found"]),
                      # a path that names one of the event types is that operation, with its answers
                      **{k: v for k, v in batch_responses.items() if k not in ("200", "207")}},
    }}
    paths["/healthz"] = {"get": {"operationId": "healthz", "tags": ["operations"], "summary": "Liveness",
                                 "responses": {"200": {"description": "the process serves requests",
                                                       "content": {"application/json": {"schema": _ref("Health")}}}}}}
    paths["/readyz"] = {"get": {"operationId": "readyz", "tags": ["operations"],
                                "summary": "Readiness: the Kafka producer is connected",
                                "responses": {
                                    "200": {"description": "ready",
                                            "content": {"application/json": {"schema": _ref("Health")}}},
                                    "503": _problem_response("the producer is not connected", ["not-ready"],
                                                             _RETRY_AFTER)}}}
    paths["/metrics"] = {"get": {"operationId": "metrics", "tags": ["operations"], "summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "text exposition format",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}}}}}
    paths["/openapi.json"] = {"get": {"operationId": "openapi", "tags": ["operations"], "summary": "This document",
                                      "responses": {"200": {"description": "OpenAPI 3.1",
                                                            "content": {"application/json": {"schema": {"type": "object"}}}}}}}
    if registry_prefix is not None:
        paths.update(_registry_paths(registry_prefix.rstrip("/")))

    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "gigbridge ingest gateway and schema registry",
            "version": "1",
            "description": (
                "HTTP ingest for gig platforms that do not run Kafka clients, and a read-only "
                "Confluent-compatible schema registry of the hub's contracts. Rejection reason codes: "
                + "; ".join(f"`{k}`: {v}" for k, v in REASON_CODES.items()) + "."),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "the platform's gateway token (issued by the hub)"}},
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    from .claims import add_claim_status_openapi  # the insurers' route (its own module)

    add_claim_status_openapi(doc, catalog, config)
    from .cases_openapi import add_case_openapi  # the case routes of platforms and units

    add_case_openapi(doc, catalog, config)
    return doc


def _registry_paths(prefix: str) -> dict[str, Any]:
    subject = {"name": "subject", "in": "path", "required": True, "schema": {"type": "string"},
               "description": "`<topic>-value` (TopicNameStrategy), e.g. `platform.swiftdash.sites-value`"}
    version = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"},
               "description": "a version number or `latest`"}
    schema_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    not_found = _registry_error("40401 subject / 40402 version / 40403 schema not found")
    invalid = _registry_error("42201 invalid schema / 42202 invalid version / 42205 read-only registry")
    schema_body = {"required": True, "content": {REGISTRY_CT: {"schema": _ref("SchemaRequest")},
                                                 "application/json": {"schema": _ref("SchemaRequest")}}}
    tags = ["registry"]
    refused = {"422": _registry_error("42205: the registry is read-only; contracts change by code review")}

    def refuse(op_id: str, params: list) -> dict[str, Any]:
        return {"operationId": op_id, "tags": tags, "summary": "Refused: the registry is read-only",
                "parameters": params, "responses": refused}

    return {
        f"{prefix}/subjects": {"get": {
            "operationId": "registry_subjects", "tags": tags,
            "summary": "Subjects of the catalog's fixed topics and of the topics that exist on the broker",
            "parameters": [{"name": "subjectPrefix", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": _registry_ok("subject names", {"type": "array", "items": {"type": "string"}})}}},
        f"{prefix}/subjects/{{subject}}": {"post": {
            "operationId": "registry_lookup", "tags": tags,
            "summary": "Is this schema (compared in Parsing Canonical Form) a version of the subject?",
            "parameters": [subject], "requestBody": schema_body,
            "responses": {"200": _registry_ok("the registered version", _ref("RegisteredSchema")),
                          "404": not_found, "422": invalid}},
            "delete": refuse("registry_delete_subject", [subject])},
        f"{prefix}/subjects/{{subject}}/versions": {
            "get": {"operationId": "registry_versions", "tags": tags, "parameters": [subject],
                    "responses": {"200": _registry_ok("version numbers", {"type": "array", "items": {"type": "integer"}}),
                                  "404": not_found}},
            "post": {"operationId": "registry_register", "tags": tags,
                     "summary": "Registration: answers the id of an already registered schema; anything new is "
                                "refused with 422 / error_code 42205 (contracts change by code review)",
                     "parameters": [subject], "requestBody": schema_body,
                     "responses": {"200": _registry_ok("id of the existing version",
                                                       {"type": "object", "properties": {"id": {"type": "integer"}},
                                                        "required": ["id"]}),
                                   "422": invalid}}},
        f"{prefix}/subjects/{{subject}}/versions/{{version}}": {"get": {
            "operationId": "registry_version", "tags": tags, "parameters": [subject, version],
            "responses": {"200": _registry_ok("the version", _ref("RegisteredSchema")), "404": not_found,
                          "422": invalid}},
            "delete": refuse("registry_delete_version", [subject, version])},
        f"{prefix}/schemas/ids/{{id}}": {"get": {
            "operationId": "registry_schema_by_id", "tags": tags,
            "parameters": [schema_id, {"name": "subject", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": _registry_ok("the schema", {"type": "object", "properties": {
                "schema": {"type": "string"}}, "required": ["schema"]}), "404": not_found}}},
        f"{prefix}/schemas/ids/{{id}}/versions": {"get": {
            "operationId": "registry_schema_versions", "tags": tags, "parameters": [schema_id],
            "responses": {"200": _registry_ok("subject/version pairs using the id", {"type": "array", "items": {
                "type": "object", "properties": {"subject": {"type": "string"}, "version": {"type": "integer"}},
                "required": ["subject", "version"]}}), "404": not_found}}},
        f"{prefix}/compatibility/subjects/{{subject}}/versions/{{version}}": {"post": {
            "operationId": "registry_compatibility", "tags": tags,
            "summary": "Would the schema be a compatible next version (schemas.compat.check_candidate)?",
            "parameters": [subject, version], "requestBody": schema_body,
            "responses": {"200": _registry_ok("verdict", {"type": "object", "properties": {
                "is_compatible": {"type": "boolean"}, "messages": {"type": "array", "items": {"type": "string"}}},
                "required": ["is_compatible", "messages"]}), "404": not_found, "422": invalid}}},
        f"{prefix}/config": {"get": {
            "operationId": "registry_config", "tags": tags,
            "responses": {"200": _registry_ok("global compatibility level", {
                "type": "object", "properties": {"compatibilityLevel": {"type": "string"}},
                "required": ["compatibilityLevel"]})}},
            "put": refuse("registry_set_config", [])},
        f"{prefix}/config/{{subject}}": {"get": {
            "operationId": "registry_subject_config", "tags": tags, "parameters": [subject],
            "responses": {"200": _registry_ok("the contract's compatibility level", {
                "type": "object", "properties": {"compatibilityLevel": {"type": "string"}},
                "required": ["compatibilityLevel"]}), "404": not_found}},
            "put": refuse("registry_set_subject_config", [subject]),
            "delete": refuse("registry_delete_subject_config", [subject])},
        f"{prefix}/associations/resources/{{namespace}}/{{resource}}": {"get": {
            "operationId": "registry_associations", "tags": tags,
            "summary": "Always 404: clients using the AssociatedNameStrategy fall back to <topic>-value",
            "parameters": [{"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}},
                           {"name": "resource", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"404": _registry_error("no associations")}}},
    }
