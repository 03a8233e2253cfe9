"""HTTP delivery of routed records to insurers, office webhooks and platforms' notice webhooks
(pure mapping part).

One ``SinkRoute`` per configured endpoint: the topics it reads, where receipts and permanent
failures go. The worker's delivery agent reads a batch, hands the records to the endpoint's
sink (``connectors.sinks.HttpSink``: signed, ``Idempotency-Key: <event_id>`` -- for the records
the hub makes, which have none, see :func:`idempotency_key` --, retried with
backoff while the endpoint is down), writes one receipt or dead letter per record, waits for
Kafka to acknowledge those, and only then acks the batch. So an offset is committed only after
its outcome is durable; a crash re-sends, and the endpoint's idempotency key makes that safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from connectors.sinks.base import DeadLetter, Delivered, SinkRecord
from gigbridge.settings import Endpoint, Settings
from schemas.catalog import Catalog
from schemas.wire import WireFormatError, decode, encode
from streams.core.cover.emits import Emit
from streams.core.plan import Delivery, InMessage
from streams.core.route import DestinationKind, insurance_topic, office_topic
from streams.core.validate import OFFICE_EVENT_TYPES


@dataclass(frozen=True)
class SinkRoute:
    destination: str  # insurer-44, webhook-440305: names the sink, its metrics and its privacy policy
    kind: DestinationKind  # insurer or webhook: the kinds with an HTTP endpoint
    sources: tuple[str, ...]
    receipts_topic: str
    dlq_topic: str
    # WeatherNotice webhooks: no personal data, so no privacy filter; idempotency key per notice revision
    notices: bool = False


#: What an insurer's endpoint is sent: incidents, cover days and the incidents' cover links.
INSURER_SINK_TYPES = ("incidents", "cover", "cover-links")
NOTICE_RECEIPTS, NOTICE_DLQ = "gov.notices.webhooks.receipts", "gov.notices.webhooks.dlq"


def notice_webhook_topic(platform: str) -> str:
    """The WeatherNotice records that concern ``platform``, written by the notice flows for its webhook."""
    return f"gov.notices.webhooks.{platform}"


def sink_routes(settings: Settings) -> list[tuple[SinkRoute, Endpoint]]:
    routes = [(SinkRoute(f"insurer-{province}", "insurer", tuple(insurance_topic(province, t) for t in INSURER_SINK_TYPES),
                         insurance_topic(province, "receipts"), insurance_topic(province, "dlq")), endpoint)
              for province, endpoint in sorted(settings.insurer_endpoints.items())]
    routes += [(SinkRoute(f"webhook-{code}", "webhook", tuple(office_topic(code, t) for t in OFFICE_EVENT_TYPES),
                          f"gov.office.{code}.receipts", f"gov.office.{code}.dlq"), endpoint)
               for code, endpoint in sorted(settings.office_webhooks.items())]
    routes += [(SinkRoute(f"notices-{platform}", "webhook", (notice_webhook_topic(platform),),
                          NOTICE_RECEIPTS, NOTICE_DLQ, notices=True), endpoint)
               for platform, endpoint in sorted(settings.platform_notice_webhooks.items())]
    return routes


def idempotency_key(contract: str, key: str | None, record: dict) -> str:
    """``event_id``; records the hub makes have none: a WeatherNotice is one record per notice,
    revision and province, ``<notice_id>/<revision>/<province>``; the cover stage's records are
    one delivery per version of their key. Either way the same key on a re-send after a crash."""
    if "event_id" in record:
        return record["event_id"]
    if contract == "weather_notice":
        return f"{record['notice_id']}/{record['revision']}/{record['province']}"
    return Emit(contract, (), key or "", record).idempotency_key


def to_sink_record(msg: InMessage, catalog: Catalog, protect) -> SinkRecord | DeadLetter:
    """The HTTP body for one routed record: ``{"event_type": ..., "event": {...}}``; a record
    that cannot be decoded (never written by the hub) becomes a dead letter right away."""
    meta = msg
    try:
        decoded = decode(catalog, msg.value or b"")
    except WireFormatError as exc:
        placeholder = SinkRecord(None, {}, f"{msg.topic}/{msg.partition}/{msg.offset}", meta=meta)
        return DeadLetter(placeholder, None, "undecodable", exc.reason)
    contract = decoded.version.contract
    event_type = catalog.contract(contract).event_type or contract  # hub-made records: their contract
    record = protect(decoded.record)
    key = msg.key.decode("utf-8", "replace") if msg.key else None
    return SinkRecord(key, {"event_type": event_type, "event": record}, idempotency_key(contract, key, record),
                      meta=meta)


def outcome_delivery(outcome: Delivered | DeadLetter, route: SinkRoute, catalog: Catalog, now_ms: int) -> Delivery:
    """The receipt or dead letter that makes one record's outcome durable."""
    msg: InMessage = outcome.record.meta
    source = {"source_topic": msg.topic, "source_partition": msg.partition, "source_offset": msg.offset}
    event_id = outcome.record.idempotency_key if outcome.record.value else None  # what the endpoint was sent
    if isinstance(outcome, Delivered):
        receipt = outcome.receipt
        record = {"event_id": event_id, "destination": route.destination, "endpoint_status": outcome.status,
                  "claim_reference": receipt.get("claim_reference"), "attempts": int(receipt.get("attempts", 1)),
                  "latency_ms": int(receipt.get("latency_ms", 0)), "delivered_at": now_ms, **source}
        return Delivery("receipt", route.receipts_topic, msg.key,
                        encode(catalog.contract("delivery_receipt").latest, record))
    record = {"event_id": event_id, "destination": route.destination, "reason": outcome.reason,
              "endpoint_status": outcome.status, "response_body": outcome.response_body[:4096],
              "failed_at": now_ms, **source}
    return Delivery("sink_dlq", route.dlq_topic, msg.key, encode(catalog.contract("sink_dead_letter").latest, record))
