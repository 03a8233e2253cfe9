"""Orders through the real worker and broker (issue #20, docs/cover.md): accepted orders reach
only hub.validated.orders keyed "<platform>:<province>", mispriced ones come back rejected, a
repeated event is dropped, insured incidents are copied to hub.cover.incidents under the same key
form, and the two cover topics have one partition count."""

from __future__ import annotations

import copy
import time
import uuid

import pytest

from schemas.catalog import default_catalog
from schemas.examples import REFERENCE_NOW_MS, load_examples
from schemas.wire import decode, encode
from streams.core.topics import COVER_INCIDENTS_TOPIC, ingest_topic, rejected_topic, validated_topic
from tests.support.kafka_io import HubProcess, onboard, producer, read_all, wait_for

pytestmark = pytest.mark.kafka

CATALOG = default_catalog()
PLATFORM = f"ord-{uuid.uuid4().hex[:8]}"


def current(payload: dict, *time_fields: str) -> dict:
    """An example moved to the present with a fresh event_id, on this test's platform. Orders
    are priced at accepted_at: the examples' shift keeps them inside their rate version only
    while the version in force today is theirs, so the premium is re-priced by the test below."""
    shift = int(time.time() * 1000) - REFERENCE_NOW_MS
    record = copy.deepcopy(payload)
    for name in time_fields:
        if isinstance(record.get(name), int):
            record[name] += shift
    return dict(record, event_id=str(uuid.uuid4()), platform_id=PLATFORM)


def priced(order: dict) -> dict:
    from streams.loaders.cover import load_rates

    rate = load_rates().rate_in_force(order["division_code"][:2], order["industry"], order["accepted_at"])
    return dict(order, premium_fen=rate.premium_fen, rate_version=rate.version)


@pytest.fixture(scope="module")
def kafka(own_kafka):
    """A broker of this module's own (the worker validates every platform's orders on the broker from the start, and the routed metric has no platform label; tests/conftest.py ``own_kafka``)."""
    return own_kafka


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    onboard(kafka, PLATFORM)
    hub = HubProcess(kafka, ["worker"], tmp_path_factory.mktemp("orders-worker"),
                     {"GIGBRIDGE_APP_ID": f"hub-orders-{uuid.uuid4().hex[:8]}",
                      "GIGBRIDGE_TOPIC_DISCOVERY_INTERVAL_S": "2"}).start()
    wait_for(lambda: hub.metric("gigbridge_subscribed_ingest_topics") >= 4, 90, "worker subscribed")
    yield hub
    assert hub.stop() == 0, hub.log_tail()


def test_orders_and_insured_incidents_reach_the_cover_topics(kafka, worker):
    orders = [priced(current(e.payload, "occurred_at", "accepted_at", "finished_at"))
              for e in load_examples(contract="order_cover", kind="valid")]
    mispriced = dict(orders[0], event_id=str(uuid.uuid4()), premium_fen=orders[0]["premium_fen"] + 7)
    incident = dict(current(next(e.payload for e in load_examples(contract="incident_report", kind="valid")),
                            "occurred_at", "reported_at"), insured=True)
    order_schema, incident_schema = CATALOG.contract("order_cover").latest, CATALOG.contract("incident_report").latest
    p = producer(kafka)
    for order in [*orders, mispriced, orders[0]]:  # the last one repeats an accepted event
        p.send(ingest_topic(PLATFORM, "orders"), key=order["order_ref"].encode(), value=encode(order_schema, order)).get(30)
    p.send(ingest_topic(PLATFORM, "incidents"), key=b"inc-1", value=encode(incident_schema, incident)).get(30)
    p.close()

    def mine(topic):
        return [r for r in read_all(kafka, topic) if decode(CATALOG, r.value).record.get("platform_id") == PLATFORM]

    def outputs():
        got = mine(validated_topic("orders")), mine(COVER_INCIDENTS_TOPIC), read_all(kafka, rejected_topic(PLATFORM))
        done = (len(got[0]) >= len(orders) and got[1] and got[2]
                and worker.metric("gigbridge_duplicates_dropped_total", platform=PLATFORM, type="orders") >= 1)
        return got if done else None

    validated, cover, rejected = wait_for(outputs, 90, "orders validated, incident copied, mispriced rejected")
    assert sorted(decode(CATALOG, r.value).record["event_id"] for r in validated) == sorted(o["event_id"] for o in orders)
    by_id = {o["event_id"]: o for o in orders}
    for r in validated:
        order = by_id[decode(CATALOG, r.value).record["event_id"]]
        assert r.key == f"{PLATFORM}:{order['division_code'][:2]}".encode()
    [copy_] = cover
    assert copy_.key == f"{PLATFORM}:{incident['division_code'][:2]}".encode()
    assert decode(CATALOG, copy_.value).record["event_id"] == incident["event_id"]
    [rejection] = [decode(CATALOG, r.value).record for r in rejected]
    assert (rejection["event_id"], rejection["reason"]) == (mispriced["event_id"], "premium_mismatch")
    # orders are not fanned out: no office copy of any of them
    assert worker.metric("gigbridge_routed_total", type="orders", destination="office") == 0
    assert worker.metric("gigbridge_routed_total", type="orders", destination="validated") == len(orders)

    from gigbridge.topics_admin import TopicAdmin
    from tests.connectors.gateway.helpers import kafka_settings

    admin = TopicAdmin(kafka_settings(kafka))
    try:
        counts = admin.partitions_of([validated_topic("orders"), COVER_INCIDENTS_TOPIC])
    finally:
        admin.close()
    assert len(counts) == 2 and len(set(counts.values())) == 1, counts  # co-partitioned
