"""One claim-status message judged against stored state (streams.core.cover.claim_flow): outputs,
rejections with reason codes, exact repeats, the key rule, and the overdue count."""

from __future__ import annotations

import uuid

import pytest

from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from streams.core.cover.claim_flow import (
    GATEWAY_CLAIM_STATUS_TOPIC,
    PROVINCE_HEADER,
    Source,
    claim_rejections_topic,
    claim_state_key,
    judge_claim_message,
    overdue_by_province_platform,
    province_of_message,
    state_from_plain,
    state_to_plain,
)
from streams.core.cover.claims import ClaimState
from streams.core.cover.cst import day_start_ms
from streams.loaders.cover import load_calendar

CATALOG = default_catalog()
NOW = 1_780_000_000_000
SOURCE = Source("gov.insurance.44.claim-status", 2, 17)


def update(status, decision=None, reason=None, claim_ref="GD-1", **kw):
    record = {"event_id": str(uuid.uuid4()), "platform_id": "swiftdash", "incident_id": "INC-7",
              "claim_ref": claim_ref, "occurred_at": NOW - 60_000, "status": status, "decision": decision,
              "reason_code": reason}
    record.update(kw)
    return record


def wire(record):
    return encode(CATALOG.contract("claim_status").latest, record)


class Table(dict):
    """The table as the agent uses it: a dict of plain states."""

    def load(self, key):
        return state_from_plain(self.get(key))

    def judge(self, record, key=None, **kw):
        verdict = judge_claim_message(self.load, SOURCE, (key or record["claim_ref"]).encode(), wire(record),
                                      catalog=CATALOG, now_ms=NOW, **kw)
        if verdict.state is not None:
            self[verdict.state_key] = state_to_plain(verdict.state)
        return verdict


def test_a_legal_sequence_is_routed_to_the_platform_keyed_by_incident():
    table = Table()
    steps = [update("RECEIVED"), update("UNDER_REVIEW"), update("DETERMINED", "ACCEPTED"), update("PAID")]
    for step in steps:
        verdict = table.judge(step)
        assert verdict.kind == "routed"
        claims, validated = verdict.outputs
        assert (claims.topic, claims.key, claims.record) == ("platform.swiftdash.claims", b"INC-7", step)
        assert (validated.topic, validated.key) == ("hub.validated.claim-status", b"GD-1")
    assert table[claim_state_key("44", "GD-1")]["status"] == "PAID"


def test_without_the_validated_copy_only_the_platform_gets_it():
    verdict = Table().judge(update("RECEIVED"), emit_validated=False)
    assert [o.topic for o in verdict.outputs] == ["platform.swiftdash.claims"]


def test_an_exact_repeat_is_dropped_without_output():
    table = Table()
    first = update("RECEIVED")
    table.judge(first)
    verdict = table.judge(dict(first))
    assert (verdict.kind, verdict.outputs, verdict.state) == ("repeat", (), None)


def rejection_of(verdict):
    (output,) = verdict.outputs
    assert output.topic == claim_rejections_topic("44") and output.contract == "rejection_record"
    decode(CATALOG, encode(CATALOG.contract("rejection_record").latest, output.record))  # fits its schema
    return output.record


def test_an_illegal_transition_is_refused_with_its_reason_and_changes_nothing():
    table = Table()
    table.judge(update("RECEIVED"))
    before = dict(table)
    verdict = table.judge(update("PAID"))
    assert (verdict.kind, verdict.reason, verdict.state) == ("illegal", "status_skipped", None)
    record = rejection_of(verdict)
    assert (record["reason"], record["source_topic"], record["source_partition"], record["source_offset"]) == \
        ("status_skipped", SOURCE.topic, 2, 17)
    assert table == before


def test_an_update_for_an_unknown_claim_is_refused():
    verdict = Table().judge(update("UNDER_REVIEW"))
    assert rejection_of(verdict)["reason"] == "claim_not_received"


@pytest.mark.parametrize(("record", "reason"), [
    (update("DETERMINED"), "invalid_claim_decision"),
    (update("DETERMINED", "DENIED"), "invalid_reason_code"),
    (update("RECEIVED", claim_ref="has space"), "invalid_claim_ref"),
    (update("RECEIVED", occurred_at=NOW + 3_600_000), "timestamp_in_future"),
])
def test_an_invalid_record_is_refused_with_the_rule_it_broke(record, reason):
    verdict = Table().judge(record)
    assert (verdict.kind, rejection_of(verdict)["reason"]) == ("invalid", reason)


def test_a_record_not_keyed_by_its_claim_ref_is_refused():
    verdict = Table().judge(update("RECEIVED"), key="INC-7")
    assert rejection_of(verdict)["reason"] == "claim_key_mismatch"


@pytest.mark.parametrize(("value", "reason"), [
    (b"", "empty"), (b"{\"json\": 1}", "bad_magic_byte"), (b"\x00\x00\x00\x00\x04", "wrong_contract")])
def test_undecodable_bytes_are_refused_never_raised(value, reason):
    verdict = judge_claim_message(lambda key: None, SOURCE, b"k", value, catalog=CATALOG, now_ms=NOW)
    assert rejection_of(verdict)["reason"] == reason


def test_the_same_claim_ref_in_two_provinces_is_two_claims():
    table = Table()
    table.judge(update("RECEIVED"))
    other = judge_claim_message(table.load, Source("gov.insurance.31.claim-status", 0, 0), b"GD-1",
                                wire(update("UNDER_REVIEW")), catalog=CATALOG, now_ms=NOW)
    assert other.reason == "claim_not_received"


def test_an_http_update_on_the_gateway_topic_shares_the_insurer_topics_state():
    """The gateway's record speaks for the province in its header: it moves the claim the
    insurer's Kafka record opened, and its refusals go to that insurer."""
    table = Table()
    table.judge(update("RECEIVED"))
    gateway = Source(GATEWAY_CLAIM_STATUS_TOPIC, 2, 5)
    province = province_of_message(gateway.topic, {PROVINCE_HEADER: b"44"}, ["44"])
    review = judge_claim_message(table.load, gateway, b"GD-1", wire(update("UNDER_REVIEW")), catalog=CATALOG,
                                 now_ms=NOW, province=province)
    assert (review.kind, review.state_key) == ("routed", "44:GD-1")
    table[review.state_key] = state_to_plain(review.state)
    regress = judge_claim_message(table.load, gateway, b"GD-1", wire(update("RECEIVED")), catalog=CATALOG,
                                  now_ms=NOW, province=province)
    assert (regress.kind, regress.reason) == ("illegal", "status_regression")
    assert (regress.outputs[0].topic, rejection_of(regress)["source_topic"]) == (
        "gov.insurance.44.claim-rejections", GATEWAY_CLAIM_STATUS_TOPIC)


@pytest.mark.parametrize(("topic", "headers", "province"), [
    ("gov.insurance.44.claim-status", {PROVINCE_HEADER: b"31"}, "44"),  # an insurer's header means nothing
    (GATEWAY_CLAIM_STATUS_TOPIC, {PROVINCE_HEADER: b"44"}, "44"),
    (GATEWAY_CLAIM_STATUS_TOPIC, {PROVINCE_HEADER: b"31"}, None),  # no insurer declared for 31
    (GATEWAY_CLAIM_STATUS_TOPIC, {}, None),
    (GATEWAY_CLAIM_STATUS_TOPIC, None, None)])
def test_the_province_comes_from_the_topic_or_the_gateways_header(topic, headers, province):
    assert province_of_message(topic, headers, ["44"]) == province


def test_overdue_counts_open_claims_past_five_working_days_by_province_and_platform():
    calendar = load_calendar()
    received = day_start_ms("2026-06-01")  # a Monday; due by the end of Monday 8 June
    states = [
        ("44:A", ClaimState("A", "swiftdash", "I1", "RECEIVED", None, None, received)),
        ("44:B", ClaimState("B", "swiftdash", "I2", "UNDER_REVIEW", None, None, received)),
        ("44:C", ClaimState("C", "swiftdash", "I3", "DETERMINED", "ACCEPTED", None, received)),
        ("31:D", ClaimState("D", "cityrun", "I4", "RECEIVED", None, None, received)),
    ]
    assert overdue_by_province_platform(states, day_start_ms("2026-06-08"), calendar) == {}
    assert overdue_by_province_platform(states, day_start_ms("2026-06-09"), calendar) == \
        {("44", "swiftdash"): 2, ("31", "cityrun"): 1}
