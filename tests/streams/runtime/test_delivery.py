"""Pure mapping of HTTP sink outcomes to receipts and dead letters."""

from connectors.sinks.base import DeadLetter, Delivered
from gigbridge.settings import Endpoint, Settings
from schemas.catalog import default_catalog
from schemas.examples import load_examples
from schemas.wire import decode, encode
from streams.runtime.delivery import outcome_delivery, sink_routes, to_sink_record
from streams.core.plan import InMessage

CATALOG = default_catalog()
INCIDENT = next(e.payload for e in load_examples(contract="incident_report", kind="valid"))
NOW = 1_780_272_000_000


def settings() -> Settings:
    ep = Endpoint(url="http://127.0.0.1:1/claims", secret="s" * 20)
    return Settings(insurer_endpoints={"44": ep}, office_webhooks={"440305": ep})


def test_routes_per_endpoint():
    (insurer, _), (webhook, _) = sink_routes(settings())
    assert insurer.sources == ("gov.insurance.44.incidents", "gov.insurance.44.cover", "gov.insurance.44.cover-links")
    assert (insurer.receipts_topic, insurer.dlq_topic) == ("gov.insurance.44.receipts", "gov.insurance.44.dlq")
    assert webhook.sources == tuple(f"gov.office.440305.{t}" for t in ("sites", "headcounts", "incidents"))
    assert webhook.destination == "webhook-440305"


def test_sink_record_and_receipt():
    route, _ = sink_routes(settings())[0]
    msg = InMessage("gov.insurance.44.incidents", 2, 41, b"site-9", encode(CATALOG.contract("incident_report").latest, INCIDENT))
    record = to_sink_record(msg, CATALOG, lambda r: r)
    assert record.idempotency_key == INCIDENT["event_id"] and record.key == "site-9"
    assert record.value == {"event_type": "incidents", "event": INCIDENT}
    delivery = outcome_delivery(Delivered(record, 201, {"claim_reference": "CLM-7", "attempts": 3, "latency_ms": 12}),
                                route, CATALOG, NOW)
    receipt = decode(CATALOG, delivery.value).record
    assert delivery.topic == "gov.insurance.44.receipts" and delivery.key == b"site-9"
    assert (receipt["claim_reference"], receipt["attempts"], receipt["source_offset"]) == ("CLM-7", 3, 41)


def test_refusal_and_undecodable_become_dead_letters():
    route, _ = sink_routes(settings())[0]
    msg = InMessage("gov.insurance.44.incidents", 0, 7, None, b"\x00\x00\x00\x00\x63junk")
    item = to_sink_record(msg, CATALOG, lambda r: r)
    assert isinstance(item, DeadLetter) and item.reason == "undecodable"
    dead = decode(CATALOG, outcome_delivery(item, route, CATALOG, NOW).value).record
    assert (dead["reason"], dead["event_id"], dead["source_offset"]) == ("undecodable", None, 7)
    good = InMessage("gov.insurance.44.incidents", 0, 8, None, encode(CATALOG.contract("incident_report").latest, INCIDENT))
    refused = DeadLetter(to_sink_record(good, CATALOG, lambda r: r), 422, "http_422", "x" * 10_000)
    dead = decode(CATALOG, outcome_delivery(refused, route, CATALOG, NOW).value).record
    assert dead["endpoint_status"] == 422 and len(dead["response_body"]) == 4096


def test_a_worker_day_cover_is_delivered_once_per_version():
    """WorkerDayCover has no event_id: the idempotency key is platform:worker:date:v<version>,
    so an amended day (version 2) is a new delivery and a re-sent version 1 is not."""
    route, _ = sink_routes(settings())[0]
    day = {"platform_id": "swiftdash", "province": "44", "worker_ref": "a" * 64, "service_date": "2026-05-30",
           "version": 2, "orders": 3, "premium_fen": 12, "first_order_at": NOW - 7_200_000,
           "last_order_at": NOW - 3_600_000, "emitted_at": NOW}
    key = f"swiftdash:{'a' * 64}:2026-05-30"
    msg = InMessage("gov.insurance.44.cover", 0, 5, key.encode(), encode(CATALOG.contract("worker_day_cover").latest, day))
    record = to_sink_record(msg, CATALOG, lambda r: r)
    assert record.idempotency_key == f"{key}:v2"
    assert record.value == {"event_type": "worker_day_cover", "event": day}
    receipt = decode(CATALOG, outcome_delivery(Delivered(record, 200, {}), route, CATALOG, NOW).value).record
    assert (receipt["event_id"], receipt["source_topic"]) == (f"{key}:v2", "gov.insurance.44.cover")


def test_an_incident_cover_link_is_delivered_once_per_incident():
    """IncidentCoverLink has no event_id and no version: the idempotency key is its record key,
    platform:incident_id, one delivery per incident."""
    route, _ = sink_routes(settings())[0]
    link = next(e.payload for e in load_examples(contract="incident_cover_link", kind="valid"))
    key = f"{link['platform_id']}:{link['incident_id']}"
    msg = InMessage("gov.insurance.44.cover-links", 0, 3, key.encode(),
                    encode(CATALOG.contract("incident_cover_link").latest, link))
    record = to_sink_record(msg, CATALOG, lambda r: r)
    assert record.idempotency_key == key
    assert record.value["event_type"] == "incident_cover_link" and record.value["event"]["incident_id"] == link["incident_id"]
