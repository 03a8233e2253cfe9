"""The validation worker on the real broker: plain producers send valid and invalid events;
every input offset must end up exactly once in validated / rejected (right reason) / DLQ."""

from __future__ import annotations

import copy
import time
import uuid

import pytest

from schemas.catalog import default_catalog
from schemas.examples import REFERENCE_NOW_MS, load_examples
from schemas.wire import decode, encode
from streams.core.topics import DLQ_TOPIC, ingest_topic, rejected_topic, validated_topic
from streams.core.validate import EVENT_TYPES, OFFICE_EVENT_TYPES
from tests.support.kafka_io import HubProcess, onboard, producer, read_all, wait_for

pytestmark = pytest.mark.kafka

CATALOG = default_catalog()
CONTRACT_TYPE = {"site_event": "sites", "headcount_report": "headcounts", "incident_report": "incidents"}
TIME_FIELDS = ("occurred_at", "reported_at", "period_start", "period_end")


def current(payload: dict, platform: str, reason: str | None = None) -> dict:
    """An example moved to the present (examples are written against REFERENCE_NOW_MS, so
    shifting every timestamp keeps "too old" / "in the future" true), with a fresh event_id
    (examples share ids) and the test's platform, except where that is the broken field."""
    shift = int(time.time() * 1000) - REFERENCE_NOW_MS
    record = copy.deepcopy(payload)
    for name in TIME_FIELDS:
        if isinstance(record.get(name), int):
            record[name] += shift
    if reason != "invalid_event_id":
        record["event_id"] = str(uuid.uuid4())
    if reason != "invalid_platform_id":
        record["platform_id"] = platform
    return record


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("worker")
    onboard(kafka, "acme-eats")
    hub = HubProcess(kafka, ["worker"], workdir,
                     {"GIGBRIDGE_APP_ID": f"hub-test-{uuid.uuid4().hex[:8]}",
                      "GIGBRIDGE_TOPIC_DISCOVERY_INTERVAL_S": "2"}).start()
    wait_for(lambda: hub.metric("gigbridge_subscribed_ingest_topics") >= 3, 90, "worker subscribed")
    yield hub
    assert hub.stop() == 0, hub.log_tail()


def test_every_offset_ends_in_exactly_one_place(kafka, worker):
    platform = "acme-eats"
    p = producer(kafka)
    sent = []  # (topic, partition, offset, expectation)
    for ex in load_examples():
        if ex.contract not in CONTRACT_TYPE:
            continue
        if ex.kind == "invalid" and ex.reason == "schema_violation":
            continue  # cannot be Avro-encoded at all; the JSON paths (CLI, gateway) cover these
        record = current(ex.payload, platform, ex.reason)
        value = encode(CATALOG.contract(ex.contract).latest, record)
        topic = ingest_topic(platform, CONTRACT_TYPE[ex.contract])
        meta = p.send(topic, key=b"site-x", value=value).get(30)
        expected = ("validated", record["event_id"]) if ex.kind == "valid" else ("rejected", ex.reason)
        sent.append((topic, meta.partition, meta.offset, expected))
    # spoofing, wrong type, garbage and a repeat of an accepted event
    valid_headcount = current(next(e.payload for e in load_examples(contract="headcount_report", kind="valid")), platform)
    spoofed = dict(valid_headcount, event_id=str(uuid.uuid4()), platform_id="other-platform")
    incident = current(next(e.payload for e in load_examples(contract="incident_report", kind="valid")), platform)
    extra = [
        (encode(CATALOG.contract("headcount_report").latest, spoofed), ("rejected", "platform_mismatch")),
        (encode(CATALOG.contract("incident_report").latest, incident), ("rejected", "wrong_event_type")),
        (b"\x00\x00\x00\x00", ("dlq", "truncated")),
        (b"{\"json\": true}", ("dlq", "bad_magic_byte")),
        (b"\x00\x00\x00\x7f\x00abc", ("dlq", "unknown_schema_id")),
        (encode(CATALOG.contract("headcount_report").latest, valid_headcount), ("validated", valid_headcount["event_id"])),
        (encode(CATALOG.contract("headcount_report").latest, valid_headcount), ("duplicate", valid_headcount["event_id"])),
    ]
    topic = ingest_topic(platform, "headcounts")
    for value, expected in extra:
        meta = p.send(topic, key=b"site-y", value=value).get(30)
        sent.append((topic, meta.partition, meta.offset, expected))
    p.close()

    n_valid = sum(1 for *_, e in sent if e[0] == "validated")
    n_rejected = sum(1 for *_, e in sent if e[0] == "rejected")
    n_dlq = sum(1 for *_, e in sent if e[0] == "dlq")

    def mine(records, belongs):
        return [r for r in records if belongs(decode(CATALOG, r.value).record)]

    def outputs():
        # other tests share the broker: keep only what traces back to this test's platform
        validated = mine([r for t in EVENT_TYPES for r in read_all(kafka, validated_topic(t))],
                         lambda rec: rec["platform_id"] == platform)
        rejected = read_all(kafka, rejected_topic(platform))
        dlq = mine(read_all(kafka, DLQ_TOPIC), lambda rec: rec["source_topic"].startswith(f"platform.{platform}."))
        done = (len(validated) >= n_valid and len(rejected) >= n_rejected and len(dlq) >= n_dlq
                and worker.metric("gigbridge_duplicates_dropped_total", platform=platform) >= 1)
        return (validated, rejected, dlq) if done else None

    validated, rejected, dlq = wait_for(outputs, 90, "all outcomes written")
    validated_ids = [decode(CATALOG, r.value).record["event_id"] for r in validated]
    rejected_by_offset = {}
    for r in rejected:
        rec = decode(CATALOG, r.value).record
        rejected_by_offset[(rec["source_topic"], rec["source_partition"], rec["source_offset"])] = rec
    dlq_by_offset = {}
    for r in dlq:
        rec = decode(CATALOG, r.value).record
        dlq_by_offset[(rec["source_topic"], rec["source_partition"], rec["source_offset"])] = (rec, dict(r.headers))

    # routed copies: every valid event reaches its county office; insured incidents their insurer,
    # each through its destination's privacy policy
    validated_records = {decode(CATALOG, r.value).record["event_id"]: decode(CATALOG, r.value).record for r in validated}
    routed: dict[str, list] = {}
    insured = {i for i, rec in validated_records.items() if rec.get("insured")}
    route_topics = {f"gov.office.{rec['division_code'][:6]}.{t}" for t in OFFICE_EVENT_TYPES
                    for rec in validated_records.values()}
    route_topics |= {f"gov.insurance.{validated_records[i]['division_code'][:2]}.incidents" for i in insured}
    for route_topic in sorted(route_topics):
        for r in read_all(kafka, route_topic):
            rec = decode(CATALOG, r.value).record
            routed.setdefault(rec["event_id"], []).append((route_topic, rec))
    for event_id in insured:
        original = validated_records[event_id]
        copies = dict(routed[event_id])
        office = next(rec for t, rec in copies.items() if t.startswith("gov.office."))
        insurer = copies[f"gov.insurance.{original['division_code'][:2]}.incidents"]
        assert office["worker_ref"] != original["worker_ref"]  # re-keyed for the office
        assert insurer["worker_ref"] == original["worker_ref"]  # the insurer matches cover on it
    assert insured, "the examples include insured incidents"

    for topic, partition, offset, (kind, detail) in sent:
        key = (topic, partition, offset)
        if kind == "validated":
            assert validated_ids.count(detail) == 1, f"{key} {detail} validated {validated_ids.count(detail)}x"
            routed_copies = routed.get(detail, [])
            office_copies = [t for t, _ in routed_copies if t.startswith("gov.office.")]
            assert len(office_copies) == 1, (detail, routed_copies)
            assert key not in rejected_by_offset and key not in dlq_by_offset
        elif kind == "duplicate":
            assert validated_ids.count(detail) == 1  # the repeat added nothing
            assert key not in rejected_by_offset and key not in dlq_by_offset
        elif kind == "rejected":
            assert rejected_by_offset[key]["reason"] == detail, (key, rejected_by_offset[key])
            assert key not in dlq_by_offset
        else:
            rec, headers = dlq_by_offset[key]
            assert rec["reason"] == detail and rec["original_value"] is not None
            assert headers["__connect.errors.topic"] == topic.encode()
    # nothing else was written: every output traces back to exactly one input offset
    assert len(validated_ids) == n_valid and len(set(validated_ids)) == n_valid
    assert len(rejected) == n_rejected and len(dlq) == n_dlq
    assert all(r.value[0] == 0 for r in [*validated, *rejected, *dlq])  # Confluent wire format


def test_new_platform_is_picked_up_without_restart(kafka, worker):
    before = worker.metric("gigbridge_subscribed_ingest_topics")
    onboard(kafka, "late-comer")
    record = current(next(e.payload for e in load_examples(contract="site_event", kind="valid")), "late-comer")
    p = producer(kafka)
    p.send(ingest_topic("late-comer", "sites"), key=b"s", value=encode(CATALOG.contract("site_event").latest, record)).get(30)
    p.close()
    wait_for(lambda: worker.metric("gigbridge_subscribed_ingest_topics") >= before + 3, 60, "new topics subscribed")
    wait_for(lambda: worker.metric("gigbridge_events_valid_total", platform="late-comer") >= 1, 60,
             "late-comer's event validated")
    ids = [decode(CATALOG, r.value).record["event_id"] for r in read_all(kafka, validated_topic("sites"))]
    assert record["event_id"] in ids


def test_metrics_and_counts_log(worker):
    text = worker.metrics()
    for name in ("gigbridge_events_received_total", "gigbridge_events_valid_total", "gigbridge_events_rejected_total",
                 "gigbridge_dlq_writes_total", "gigbridge_duplicates_dropped_total", "gigbridge_routed_total"):
        assert name in text
    wait_for(lambda: '"event": "counts"' in worker.log_path.read_text(errors="replace"), 10, "a counts log line")
