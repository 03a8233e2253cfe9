"""Example payloads: layout, loader, coverage, and that each one shows exactly its rule.

That every example gets exactly its verdict from the hub's validation is proven in
tests/streams/core/test_examples.py (one parametrized test over all examples).
"""

from __future__ import annotations

import json

import pytest

from schemas.examples import ExampleLayoutError, load_examples

EXAMPLES = load_examples()
EVENT_CONTRACTS = ("site_event", "headcount_report", "incident_report", "order_cover", "claim_status",
                   "protection_measure", "algorithm_rule_change")
CASE_CONTRACTS = ("concern_case", "case_event", "incident_ack")  # validated by streams/core/cases

REASONS = {
    "schema_violation", "invalid_event_id", "invalid_platform_id", "invalid_division_code",
    "unknown_division_code", "timestamp_in_future", "timestamp_too_old", "invalid_period",
    "period_too_long", "negative_count", "status_sum_mismatch", "count_exceeds_active",
    "invalid_pseudonym", "description_too_long", "invalid_coordinates",
    # occupational-injury cover (streams/core/cover)
    "premium_mismatch", "invalid_order_state", "invalid_claim_ref", "invalid_claim_decision", "invalid_reason_code",
    # weather notices, measures, algorithm-rule changes (streams/core/notices)
    "pii_detected", "unknown_notice", "division_outside_notice", "invalid_change_ref", "invalid_industries",
    "notice_period_too_short", "consultation_missing", "invalid_consultation",
    # concern cases (streams/core/cases)
    "invalid_case_id", "unknown_unit", "source_mismatch", "text_too_long", "empty_summary", "pii_detected",
    "invalid_target_unit", "invalid_satisfaction",
}
@pytest.mark.parametrize("example", [pytest.param(e, id=e.id) for e in EXAMPLES if e.kind == "invalid"])
def test_invalid_example_metadata(example):
    assert example.reason in REASONS
    assert example.reason != "platform_mismatch"
    assert example.field and example.description
    assert example.contract in EVENT_CONTRACTS + CASE_CONTRACTS


REQUIRED = {
    "site_event": {
        ("schema_violation", None), ("invalid_event_id", "event_id"), ("invalid_platform_id", "platform_id"),
        ("invalid_division_code", "division_code"), ("unknown_division_code", "division_code"),
        ("timestamp_in_future", "occurred_at"), ("timestamp_too_old", "occurred_at"),
        ("invalid_coordinates", "location.lat"), ("invalid_coordinates", "location.lon"),
    },
    "headcount_report": {
        ("schema_violation", None), ("invalid_event_id", "event_id"), ("invalid_platform_id", "platform_id"),
        ("invalid_division_code", "division_code"), ("unknown_division_code", "division_code"),
        ("timestamp_in_future", "occurred_at"), ("timestamp_too_old", "occurred_at"),
        ("invalid_period", "period_end"), ("period_too_long", "period_end"), ("negative_count", None),
        ("status_sum_mismatch", "active_workers"), ("count_exceeds_active", "insured_workers"),
        ("count_exceeds_active", "long_hours_workers"),
    },
    "incident_report": {
        ("schema_violation", None), ("invalid_event_id", "event_id"), ("invalid_platform_id", "platform_id"),
        ("invalid_division_code", "division_code"), ("unknown_division_code", "division_code"),
        ("timestamp_in_future", "occurred_at"), ("timestamp_in_future", "reported_at"),
        ("timestamp_too_old", "occurred_at"), ("invalid_pseudonym", "worker_ref"),
        ("invalid_pseudonym", "order_ref"), ("description_too_long", "description"),
        ("invalid_coordinates", "location.lat"), ("invalid_coordinates", "location.lon"),
    },
    "order_cover": {
        ("schema_violation", None), ("invalid_event_id", "event_id"), ("invalid_platform_id", "platform_id"),
        ("invalid_division_code", "division_code"), ("unknown_division_code", "division_code"),
        ("timestamp_in_future", "occurred_at"), ("timestamp_too_old", "occurred_at"),
        ("invalid_order_state", "finished_at"), ("invalid_period", "finished_at"), ("invalid_period", "occurred_at"),
        ("period_too_long", "occurred_at"), ("invalid_pseudonym", "worker_ref"), ("invalid_pseudonym", "order_ref"),
        ("premium_mismatch", "premium_fen"), ("premium_mismatch", "rate_version"),
    },
    "claim_status": {
        ("schema_violation", None), ("invalid_event_id", "event_id"), ("invalid_platform_id", "platform_id"),
        ("timestamp_in_future", "occurred_at"), ("timestamp_too_old", "occurred_at"),
        ("invalid_claim_ref", "claim_ref"), ("invalid_claim_decision", "decision"), ("invalid_reason_code", "reason_code"),
    },
    "protection_measure": {
        ("schema_violation", None), ("invalid_event_id", "event_id"), ("invalid_platform_id", "platform_id"),
        ("invalid_division_code", "division_codes"), ("unknown_division_code", "division_codes"),
        ("timestamp_in_future", "occurred_at"), ("timestamp_too_old", "occurred_at"), ("invalid_period", "effective_to"),
        ("unknown_notice", "notice_id"), ("division_outside_notice", "division_codes"),
        ("description_too_long", "description"), ("pii_detected", "description"),
    },
    "algorithm_rule_change": {
        ("schema_violation", None), ("invalid_event_id", "event_id"), ("invalid_platform_id", "platform_id"),
        ("invalid_change_ref", "change_id"), ("invalid_industries", "industries"),
        ("invalid_division_code", "division_codes"), ("unknown_division_code", "division_codes"),
        ("timestamp_in_future", "published_at"), ("timestamp_too_old", "published_at"),
        ("notice_period_too_short", "effective_at"), ("consultation_missing", "consultation"),
        ("invalid_consultation", "consultation.consulted_at"), ("invalid_consultation", "consultation.comments_received"),
        ("invalid_consultation", "consultation.parties"), ("description_too_long", "summary"),
        ("pii_detected", "summary"), ("pii_detected", "consultation.response"),
    },
    "concern_case": {
        ("schema_violation", None), ("invalid_case_id", "case_id"), ("invalid_platform_id", "source_id"),
        ("unknown_unit", "source_id"), ("source_mismatch", "platform_id"), ("invalid_division_code", "division_code"),
        ("unknown_division_code", "division_code"), ("timestamp_in_future", "submitted_at"),
        ("timestamp_too_old", "submitted_at"), ("invalid_pseudonym", "worker_ref"), ("text_too_long", "summary"),
        ("empty_summary", "summary"), ("pii_detected", "summary"),
    },
    "case_event": {
        ("schema_violation", None), ("invalid_event_id", "event_id"), ("invalid_case_id", "case_id"),
        ("unknown_unit", "actor_id"), ("unknown_unit", "target_unit"), ("invalid_target_unit", "target_unit"),
        ("invalid_reason_code", "reason_code"), ("invalid_satisfaction", "satisfaction"),
        ("timestamp_in_future", "at"), ("text_too_long", "note"), ("pii_detected", "note"),
    },
    "incident_ack": {
        ("schema_violation", None), ("invalid_event_id", "event_id"), ("invalid_platform_id", "platform_id"),
        ("unknown_unit", "unit_id"), ("invalid_target_unit", "target_unit"), ("pii_detected", "note"),
    },
}


@pytest.mark.parametrize("contract", EVENT_CONTRACTS + CASE_CONTRACTS)
def test_invalid_examples_cover_every_applicable_reason(catalog, contract):
    for v in catalog.contract(contract).versions:
        have = {(e.reason, e.field) for e in EXAMPLES if e.contract == contract and e.version == v.version and e.kind == "invalid"}
        for reason, field in REQUIRED[contract]:
            assert any(r == reason and (field is None or f == field) for r, f in have), (contract, v.version, reason, field)


def test_valid_example_counts(catalog):
    for v in catalog.versions():
        n = sum(1 for e in EXAMPLES if (e.contract, e.version, e.kind) == (v.contract, v.version, "valid"))
        assert n >= (3 if v.contract in EVENT_CONTRACTS else 1), (v.contract, v.version, n)


def test_examples_use_realistic_values():
    divisions = {e.payload.get("division_code") for e in EXAMPLES if e.kind == "valid"}
    assert {"310101002000", "440305000000", "110101001001"} <= divisions
    assert any(len(e.payload.get("description") or "") == 500 for e in EXAMPLES if e.kind == "valid")


def test_loader_decodes_bytes_and_filters():
    [dl] = load_examples(contract="dead_letter")
    assert isinstance(dl.payload["original_value"], bytes)
    assert dl.payload["original_value"][:5] == b"\x00\x00\x00\x00\x63"
    assert dl.payload["original_key"] == b"GZ-TH-FH-01"
    assert all(e.kind == "invalid" for e in load_examples(kind="invalid"))
    assert {e.contract for e in load_examples(contract="site_event", version=1)} == {"site_event"}
    # fresh objects every call: callers may mutate payloads
    a, b = load_examples(contract="site_event")[0], load_examples(contract="site_event")[0]
    assert a.payload == b.payload and a.payload is not b.payload


def test_loader_rejects_bad_layout(tmp_path):
    d = tmp_path / "site_event" / "v1" / "invalid"
    d.mkdir(parents=True)
    (d / "x.json").write_text(json.dumps({"reason": "schema_violation", "payload": {}}))
    with pytest.raises(ExampleLayoutError, match="exactly the keys"):
        load_examples(tmp_path)
    (d / "x.json").unlink()
    (tmp_path / "site_event" / "v1" / "valid.json").write_text("{}")
    with pytest.raises(ExampleLayoutError, match="'valid' or 'invalid'"):
        load_examples(tmp_path)
