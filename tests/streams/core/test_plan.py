"""classify + plan_batch: what each ingest message becomes, without Kafka."""

import copy

import pytest

from gigbridge.divisions import default_table
from schemas.catalog import default_catalog
from schemas.examples import REFERENCE_NOW_MS, load_examples
from schemas.wire import decode, encode
from streams.runtime.dedupe.store import DedupeStore
from streams.core.plan import InMessage, plan_batch
from streams.core.classify import Accepted, DeadLettered, Rejected, classify
from streams.core.context import Context
from streams.core.topics import IngestTopic

CATALOG = default_catalog()
CTX = Context(CATALOG, default_table().exists)
NOW = REFERENCE_NOW_MS
HEADCOUNT = next(e.payload for e in load_examples(contract="headcount_report", kind="valid"))
INCIDENT = next(e.payload for e in load_examples(contract="incident_report", kind="valid"))
PLATFORM = HEADCOUNT["platform_id"]


def wire(contract, record):
    return encode(CATALOG.contract(contract).latest, record)


def msg(value, topic=f"platform.{PLATFORM}.headcounts", offset=0, key=b"site-1"):
    return InMessage(topic, 0, offset, key, value)


def test_valid_message_is_accepted():
    outcome = classify(wire("headcount_report", HEADCOUNT), IngestTopic(PLATFORM, "headcounts"), CTX, NOW)
    assert isinstance(outcome, Accepted) and outcome.event_id == HEADCOUNT["event_id"]


@pytest.mark.parametrize("value,reason", [
    (b"", "empty"), (b"\x00\x00", "truncated"), (b"\x01\x00\x00\x00\x01abc", "bad_magic_byte"),
    (b"\x00\x00\x00\x99\x99abc", "unknown_schema_id"), (b"\x00\x00\x00\x00\x02\xff\xff\xff", "avro_decode_error"),
])
def test_undecodable_bytes_are_dead_lettered(value, reason):
    outcome = classify(value, IngestTopic(PLATFORM, "headcounts"), CTX, NOW)
    assert isinstance(outcome, DeadLettered) and outcome.reason == reason


def test_schema_of_another_type_is_rejected_not_dead_lettered():
    outcome = classify(wire("incident_report", INCIDENT), IngestTopic(PLATFORM, "headcounts"), CTX, NOW)
    assert isinstance(outcome, Rejected) and outcome.rejection.reason == "wrong_event_type"


def test_spoofed_platform_is_rejected():
    outcome = classify(wire("headcount_report", HEADCOUNT), IngestTopic("another-one", "headcounts"), CTX, NOW)
    assert isinstance(outcome, Rejected) and outcome.rejection.reason == "platform_mismatch"


def test_plan_routes_each_outcome_to_its_topic_in_wire_format():
    bad = copy.deepcopy(HEADCOUNT)
    bad["event_id"], bad["employed_workers"] = "9d1c9a4e-3b7f-4c2a-8e55-1f0e2d3c4b5a", bad["employed_workers"] + 1
    messages = [msg(wire("headcount_report", HEADCOUNT), offset=0), msg(wire("headcount_report", bad), offset=1),
                msg(b"\x07garbage", offset=2, key=b"k")]
    plan = plan_batch(messages, CTX, lambda m, eid: False, NOW)
    topics = [d.topic for d in plan.deliveries]
    office = f"gov.office.{HEADCOUNT['division_code'][:6]}.headcounts"
    assert topics == ["hub.validated.headcounts", office, f"platform.{PLATFORM}.rejected", "hub.dlq"]
    assert all(d.value[0] == 0 for d in plan.deliveries)  # Confluent magic byte on every output
    assert decode(CATALOG, plan.deliveries[0].value).record == HEADCOUNT
    assert decode(CATALOG, plan.deliveries[1].value).record == HEADCOUNT  # no policy configured here
    rejection = decode(CATALOG, plan.deliveries[2].value).record
    assert (rejection["reason"], rejection["field"], rejection["source_offset"]) == ("status_sum_mismatch", "active_workers", 1)
    assert str(bad["employed_workers"]) not in rejection["message"]
    dead = decode(CATALOG, plan.deliveries[3].value).record
    assert dead["original_value"] == b"\x07garbage" and dead["original_key"] == b"k"
    headers = dict(plan.deliveries[3].headers)
    assert headers["__connect.errors.topic"] == f"platform.{PLATFORM}.headcounts".encode()
    assert headers["__connect.errors.offset"] == b"2"
    assert plan.accepted_ids == [HEADCOUNT["event_id"]]


def test_duplicates_inside_batch_and_window_produce_nothing(tmp_path):
    store = DedupeStore(tmp_path / "dedupe", 24 * 3600 * 1000).open()
    value = wire("headcount_report", HEADCOUNT)

    def seen_at(now):
        return lambda m, eid: store.seen_before(m.topic, m.partition, eid, now)

    plan = plan_batch([msg(value, offset=0), msg(value, offset=1)], CTX, seen_at(NOW), NOW)
    assert [d.duplicate for d in plan.decisions] == [False, True]
    assert len(plan.deliveries) == 2  # validated + office, once
    first = plan.decisions[0].message
    store.apply(first.topic, first.partition, plan.accepted_ids, NOW)
    later = plan_batch([msg(value, offset=2)], CTX, seen_at(NOW + 1000), NOW + 1000)
    assert later.decisions[0].duplicate and later.deliveries == []
    store.close()


def test_rejected_repeat_is_not_a_duplicate():
    bad = copy.deepcopy(HEADCOUNT)
    bad["division_code"] = "999999000000"
    value = wire("headcount_report", bad)
    plan = plan_batch([msg(value), msg(value, offset=1)], CTX, lambda m, eid: False, NOW)
    assert [d.kind for d in plan.deliveries] == ["rejected", "rejected"]


def test_routes_carry_each_destinations_privacy_policy():
    from streams.core.policy import Protector, SecretSource
    from streams.loaders.policy import load_policies

    book = load_policies(secrets=SecretSource(b"m" * 32))
    ctx = Context(CATALOG, default_table().exists, level_of=default_table().level_of, protect=Protector(book),
                  emit_validated=False)
    incident = dict(INCIDENT, platform_id=PLATFORM, insured=True, location={"lat": 22.543217, "lon": 113.934561})
    plan = plan_batch([msg(wire("incident_report", incident), topic=f"platform.{PLATFORM}.incidents")],
                      ctx, lambda m, eid: False, NOW)
    by_kind = {d.kind: decode(CATALOG, d.value).record for d in plan.deliveries}
    office, insurer = by_kind["office"], by_kind["insurer"]
    assert office["worker_ref"] != incident["worker_ref"] and len(office["worker_ref"]) == 64
    assert insurer["worker_ref"] == incident["worker_ref"]  # the insurer matches cover on the platform's ref
    assert office["location"]["lat"] == round(incident["location"]["lat"], 2)
    assert round(insurer["location"]["lat"], 4) == insurer["location"]["lat"]
    assert [d.topic for d in plan.deliveries] == [f"gov.office.{incident['division_code'][:6]}.incidents",
                                                  f"gov.insurance.{incident['division_code'][:2]}.incidents",
                                                  "hub.cover.incidents"]  # the cover stage's copy (test_plan_orders)


def test_a_huge_undecodable_value_is_dead_lettered_without_its_bytes():
    from streams.core.classify import DLQ_MAX_ORIGINAL_BYTES

    huge = b"\x01" * (DLQ_MAX_ORIGINAL_BYTES + 1)
    plan = plan_batch([msg(huge, offset=7)], CTX, lambda m, eid: False, NOW)
    (dead,) = plan.deliveries
    record = decode(CATALOG, dead.value).record
    assert dead.kind == "dlq" and len(dead.value) < DLQ_MAX_ORIGINAL_BYTES
    assert record["original_value"] is None and "not copied" in record["message"] and "@7" in record["message"]
