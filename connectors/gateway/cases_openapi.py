"""The case routes of :mod:`connectors.gateway.cases` in the gateway's OpenAPI document: added to
a document built by :func:`connectors.gateway.openapi.build_openapi` (request bodies from the
latest ``ConcernCase``, ``CaseEvent`` and ``IncidentAck`` contracts, so they cannot drift)."""

from __future__ import annotations

import copy
from typing import Any

from streams.core.cases.flow import CONTRACT_OF_STREAM
from streams.core.cases.gateway_input import KEY_FIELD, UNIT_STREAMS, UNITS_GATEWAY_TOPIC
from streams.core.cases.units import UNIT_ID_RE

from .avro_jsonschema import avro_to_json_schema
from .cases import CASE_REASON_CODES, PLATFORM_CASE_STREAMS, UNIT_ROUTE


def _body(name: str, max_events: int) -> dict[str, Any]:
    from .openapi import _ref

    return {"required": True, "content": {
        "application/json": {"schema": {"type": "array", "minItems": 1, "maxItems": max_events, "items": _ref(name)}},
        "application/x-ndjson": {"schema": {"type": "string",
                                            "description": f"one {name} JSON object per line (UTF-8)"}}}}


def add_case_openapi(doc: dict[str, Any], catalog: Any, config: Any) -> None:
    """Add ``/v1/events/cases``, ``/v1/events/case-events`` (platforms) and
    ``/v1/units/{unit_id}/case-events|incident-acks`` (units) to ``doc``."""
    from .openapi import _problem_response, _ref

    schemas, paths = doc["components"]["schemas"], doc["paths"]
    names = {}
    for stream, contract_name in CONTRACT_OF_STREAM.items():
        contract = catalog.contract(contract_name)
        schema = avro_to_json_schema(contract.latest.schema)
        schema["description"] = f"{schema.get('description', '')} Schema id {contract.latest.schema_id}.".strip()
        names[stream] = contract.full_name.rsplit(".", 1)[-1]
        schemas[names[stream]] = schema
    schemas["BatchResult"]["properties"]["type"]["enum"] += list(PLATFORM_CASE_STREAMS)
    unit_result = copy.deepcopy(schemas["BatchResult"])
    unit_result["properties"].pop("platform_id")
    unit_result["properties"]["unit_id"] = {"type": "string"}
    unit_result["properties"]["type"]["enum"] = list(UNIT_STREAMS)
    unit_result["required"] = ["unit_id", *(r for r in unit_result["required"] if r != "platform_id")]
    schemas["UnitBatchResult"] = unit_result
    doc["components"]["securitySchemes"]["unitAuth"] = {
        "type": "http", "scheme": "bearer", "description": "the handling unit's token (GIGBRIDGE_CASE_UNIT_TOKENS)"}
    doc["info"]["description"] += " Case reason codes: " + "; ".join(
        f"`{k}`: {v}" for k, v in CASE_REASON_CODES.items()) + "."

    ingest_responses = paths["/v1/events/sites"]["post"]["responses"]
    for stream in PLATFORM_CASE_STREAMS:
        paths[f"/v1/events/{stream}"] = {"post": {
            "operationId": f"ingest_{stream.replace('-', '_')}", "tags": ["cases"],
            "summary": f"Submit {names[stream]} records (platforms)",
            "description": (
                f"Each record is checked as the hub's case intake checks `platform.<your platform>.{stream}` (the "
                f"case record rules; the source / actor must be your platform); accepted ones are written there, "
                f"keyed by `{KEY_FIELD[stream]}`, before the answer. A step that is not legal for the case's current "
                f"state is refused later, on `platform.<your platform>.case-rejections`. `event_id` in the results "
                f"is the record's `event_id` (a case's `case_id`)."),
            "security": [{"bearerAuth": []}], "requestBody": _body(names[stream], config.max_events),
            "responses": ingest_responses}}
    unknown = paths["/v1/events/{type}"]["post"]
    unknown["parameters"][0]["schema"]["not"]["enum"] += list(PLATFORM_CASE_STREAMS)
    unknown["description"] = unknown["description"].replace(" exist;", f", {', '.join(PLATFORM_CASE_STREAMS)} exist;")

    unit_ok = {"content": {"application/json": {"schema": _ref("UnitBatchResult")}}}
    unit_responses = {
        "200": {"description": "every event accepted and acknowledged by Kafka (acks=all)", **unit_ok},
        "207": {"description": "some or all events rejected (per-event reason); accepted ones are in Kafka", **unit_ok},
        **{k: ingest_responses[k] for k in ("400", "401", "408", "413", "415", "429", "503")},
        "403": _problem_response("the path names another unit than the token's, or the token's unit is not in the "
                                 "units file; nothing was written", ["wrong-unit", "unknown-unit"]),
    }
    for stream in UNIT_STREAMS:
        paths[UNIT_ROUTE.replace("{stream}", stream)] = {"post": {
            "operationId": f"unit_{stream.replace('-', '_')}", "tags": ["units"],
            "summary": f"Submit {names[stream]} records (handling units)",
            "description": (
                f"What the unit would write on `gov.units.<unit_id>.{stream}`, checked the same way (the actor / "
                f"`unit_id` must be the token's unit: `unit_mismatch`), written to the hub's `{UNITS_GATEWAY_TOPIC}` "
                f"keyed by `{KEY_FIELD[stream]}` with the unit in a record header (the hub may not write a unit's "
                f"topic) and acknowledged before the answer. Refusals of steps illegal for the case's state go to "
                f"`gov.units.<unit_id>.case-rejections`; a step whose `event_id` was applied changes nothing."),
            "security": [{"unitAuth": []}],
            "parameters": [{"name": "unit_id", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": f"^{UNIT_ID_RE.pattern}$"}}],
            "requestBody": _body(names[stream], config.max_events), "responses": unit_responses}}
