"""Orders on the validation path (issue #20, docs/cover.md): judged with the rate table, deduped
by event_id, written only to hub.validated.orders keyed "<platform>:<province>"; insured
incidents also go to hub.cover.incidents with the same key form."""

from __future__ import annotations

import copy

import pytest

from gigbridge.divisions import default_table
from schemas.catalog import default_catalog
from schemas.examples import REFERENCE_NOW_MS, load_examples
from schemas.wire import decode, encode
from streams.core.classify import Accepted, Rejected, classify
from streams.core.context import Context
from streams.core.plan import InMessage, plan_batch
from streams.core.topics import IngestTopic
from streams.loaders.cover import load_rates
from streams.runtime.cover_topics import CopartitionError, ensure_cover_topics

CATALOG = default_catalog()
DIVISIONS = default_table()
CTX = Context(CATALOG, DIVISIONS.exists, level_of=DIVISIONS.level_of, rates=load_rates())
NOW = REFERENCE_NOW_MS
ORDERS = [e.payload for e in load_examples(contract="order_cover", kind="valid")]
INCIDENT = next(e.payload for e in load_examples(contract="incident_report", kind="valid"))


def order_message(record: dict, offset: int = 0) -> InMessage:
    return InMessage(f"platform.{record['platform_id']}.orders", 0, offset, record["order_ref"].encode(),
                     encode(CATALOG.contract("order_cover").latest, record))


def incident_message(record: dict) -> InMessage:
    return InMessage(f"platform.{record['platform_id']}.incidents", 0, 0, b"incident-key",
                     encode(CATALOG.contract("incident_report").latest, record))


def plan(messages, ctx=CTX, seen=lambda m, eid: False):
    return plan_batch(messages, ctx, seen, NOW)


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: o["division_code"])
def test_an_accepted_order_goes_only_to_the_validated_stream_keyed_by_platform_and_province(order):
    message = order_message(order)
    [decision] = plan([message]).decisions
    assert isinstance(decision.outcome, Accepted)
    [delivery] = decision.deliveries  # no office, no insurer, no monitoring copy
    assert (delivery.kind, delivery.topic) == ("validated", "hub.validated.orders")
    assert delivery.key == f"{order['platform_id']}:{order['division_code'][:2]}".encode()
    assert delivery.value == message.value  # the platform's bytes, unchanged


def test_orders_are_written_even_when_the_audit_stream_is_off():
    ctx = Context(CATALOG, DIVISIONS.exists, rates=CTX.rates, emit_validated=False)
    [delivery] = plan([order_message(ORDERS[0])], ctx).deliveries
    assert delivery.topic == "hub.validated.orders"


def test_a_mispriced_order_is_rejected_to_the_platform():
    order = dict(copy.deepcopy(ORDERS[0]), premium_fen=ORDERS[0]["premium_fen"] + 1)
    [decision] = plan([order_message(order)]).decisions
    assert isinstance(decision.outcome, Rejected) and decision.outcome.rejection.reason == "premium_mismatch"
    [delivery] = decision.deliveries
    assert delivery.topic == f"platform.{order['platform_id']}.rejected"
    rejection = decode(CATALOG, delivery.value).record
    assert (rejection["event_type"], rejection["reason"]) == ("orders", "premium_mismatch")


def test_without_a_rate_table_no_order_is_accepted():
    outcome = classify(encode(CATALOG.contract("order_cover").latest, ORDERS[0]),
                       IngestTopic(ORDERS[0]["platform_id"], "orders"), Context(CATALOG, DIVISIONS.exists), NOW)
    assert isinstance(outcome, Rejected) and outcome.rejection.reason == "premium_mismatch"


def test_a_repeated_order_event_is_a_duplicate_and_writes_nothing():
    first, again = order_message(ORDERS[0]), order_message(ORDERS[0], offset=1)
    decisions = plan([first, again]).decisions
    assert [d.duplicate for d in decisions] == [False, True] and decisions[1].deliveries == ()
    [later] = plan([again], seen=lambda m, eid: eid == ORDERS[0]["event_id"]).decisions
    assert later.duplicate and later.deliveries == ()


def test_an_insured_incident_also_goes_to_the_cover_stage_keyed_like_orders():
    incident = dict(copy.deepcopy(INCIDENT), insured=True)
    deliveries = plan([incident_message(incident)]).deliveries
    [cover] = [d for d in deliveries if d.topic == "hub.cover.incidents"]
    assert cover.kind == "cover"
    assert cover.key == f"{incident['platform_id']}:{incident['division_code'][:2]}".encode()
    validated = next(d for d in deliveries if d.kind == "validated")
    assert cover.value == validated.value and validated.key == b"incident-key"  # same record, wire format


def test_an_uninsured_incident_does_not_go_to_the_cover_stage():
    incident = dict(copy.deepcopy(INCIDENT), insured=False)
    assert "hub.cover.incidents" not in {d.topic for d in plan([incident_message(incident)]).deliveries}


class FakeAdmin:
    def __init__(self, existing: dict[str, int]):
        self.existing, self.ensured = existing, []

    def partitions_of(self, topics):
        return {t: n for t, n in self.existing.items() if t in topics}

    def ensure(self, topics, partitions=None):
        self.ensured.append((tuple(topics), partitions))
        return [t for t in topics if t not in self.existing]


def test_cover_topics_are_created_with_one_partition_count():
    both_missing = FakeAdmin({})
    assert ensure_cover_topics(both_missing) == ["hub.validated.orders", "hub.cover.incidents"]
    assert both_missing.ensured == [(("hub.validated.orders", "hub.cover.incidents"), None)]  # the default count
    orders_exist = FakeAdmin({"hub.validated.orders": 6})
    assert ensure_cover_topics(orders_exist) == ["hub.cover.incidents"]
    assert orders_exist.ensured[0][1] == 6
    with pytest.raises(CopartitionError, match="same partition count"):
        ensure_cover_topics(FakeAdmin({"hub.validated.orders": 6, "hub.cover.incidents": 3}))
