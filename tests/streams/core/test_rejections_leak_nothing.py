"""For every rejection reason the hub can give: neither the rejection record nor a log line
that carries the event contains a string value of the rejected event."""

from __future__ import annotations

import copy
import io
import json

import pytest
import structlog

from gigbridge.divisions import default_table
from gigbridge.log_redaction import redact_event_values
from schemas.catalog import default_catalog
from schemas.examples import REFERENCE_NOW_MS, load_examples
from streams.core.classify import Rejected, Source, classify_json, rejection_record
from streams.core.context import Context

EVENT_TYPE = {"site_event": "sites", "headcount_report": "headcounts", "incident_report": "incidents"}
CTX = Context(default_catalog(), default_table().exists)
INCIDENT = next(e.payload for e in load_examples(contract="incident_report", kind="valid"))

# every reason code with an example event that triggers it (examples + the context-dependent ones)
CASES = [(e.reason, e.contract, e.payload, None) for e in load_examples(kind="invalid") if e.contract in EVENT_TYPE]
CASES += [
    ("platform_mismatch", "incident_report", INCIDENT, "another-platform"),
    ("pii_detected", "incident_report", dict(INCIDENT, description="call me on +86 138-0013-8000"), None),
    ("pii_detected", "incident_report", dict(INCIDENT, incident_id="rider 11010519491231002X"), None),
    ("invalid_key_id", "incident_report", dict(INCIDENT, site_id="secret-site-" + "x" * 200), None),
]


def string_values(node) -> set[str]:
    if isinstance(node, str):
        return {node} if len(node) >= 4 else set()
    if isinstance(node, dict):
        return set().union(*(string_values(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(string_values(v) for v in node)) if node else set()
    return set()


def test_every_reason_code_is_covered():
    assert {reason for reason, *_ in CASES} >= {
        "schema_violation", "invalid_event_id", "invalid_platform_id", "invalid_division_code",
        "unknown_division_code", "timestamp_in_future", "timestamp_too_old", "invalid_period",
        "period_too_long", "negative_count", "status_sum_mismatch", "count_exceeds_active",
        "invalid_pseudonym", "description_too_long", "invalid_coordinates", "platform_mismatch", "pii_detected", "invalid_key_id"}


@pytest.mark.parametrize("reason,contract,payload,topic_platform", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rejection_record_and_logs_carry_no_value(reason, contract, payload, topic_platform):
    outcome = classify_json(copy.deepcopy(payload), EVENT_TYPE[contract], CTX, REFERENCE_NOW_MS, topic_platform)
    assert isinstance(outcome, Rejected) and outcome.rejection.reason == reason
    record = rejection_record(outcome, Source("platform.p.incidents", 0, 7), REFERENCE_NOW_MS)
    # the event_id/platform_id are identifiers of the event, not payload: the record may name them
    secrets = string_values(payload) - {payload.get("event_id"), payload.get("platform_id")}
    secrets -= {v for v in secrets if v in record.values() and v in (record["event_type"], record["reason"])}
    leaked_in_record = [s for s in secrets if s in json.dumps(record, ensure_ascii=False) and s not in (record["field"] or "")]
    assert not leaked_in_record, leaked_in_record

    buffer = io.StringIO()
    logger = structlog.wrap_logger(structlog.PrintLogger(buffer),
                                   processors=[redact_event_values, structlog.processors.JSONRenderer(ensure_ascii=False)])
    logger.warning("event rejected", reason=reason, field=outcome.rejection.field, payload=payload, record=payload)
    leaked_in_log = [s for s in string_values(payload) if s in buffer.getvalue() and s not in (reason, outcome.rejection.field)]
    assert not leaked_in_log, leaked_in_log
