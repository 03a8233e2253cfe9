"""The claims agent in a real worker on the real broker: an insurer publishes a claim's life on
its claim-status topic; the platform's claims topic gets every legal step keyed by the incident,
the insurer's rejection topic gets the illegal one with its reason, an exact repeat is dropped and
counted, and an open claim past its deadline shows in the overdue gauge."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from streams.core.cover.claim_flow import claim_rejections_topic, claim_status_topic
from tests.support.kafka_io import HubProcess, hub_settings, producer, read_all, wait_for

pytestmark = pytest.mark.kafka

CATALOG = default_catalog()
PROVINCE = "44"
DAY_MS = 86_400_000


def claim_update(platform, claim_ref, incident_id, status, decision=None, reason=None, at_ms=None):
    return {"event_id": str(uuid.uuid4()), "platform_id": platform, "incident_id": incident_id,
            "claim_ref": claim_ref, "occurred_at": at_ms or int(time.time() * 1000) - 1000, "status": status,
            "decision": decision, "reason_code": reason}


async def post_signed(gw, updates: list[dict], secret: str, token: str = "tok"):
    """POST ``updates`` to the gateway's claim-status route as the insurer of PROVINCE, signed with ``secret``."""
    import json

    from connectors.signing import signature_headers

    body = json.dumps(updates).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               **signature_headers(secret, body, time.time())}
    return await gw.session.post(f"{gw.url}/v1/insurance/{PROVINCE}/claim-status", data=body, headers=headers)


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    from gigbridge.topics_admin import TopicAdmin

    admin = TopicAdmin(hub_settings(kafka))
    try:
        admin.ensure([claim_status_topic(PROVINCE)])
    finally:
        admin.close()
    hub = HubProcess(kafka, ["worker"], tmp_path_factory.mktemp("claims-worker"),
                     {"GIGBRIDGE_APP_ID": f"hub-claims-{uuid.uuid4().hex[:8]}",
                      "GIGBRIDGE_CLAIMS_OVERDUE_SCAN_INTERVAL_S": "1"}).start()
    yield hub
    assert hub.stop() == 0, hub.log_tail()


def test_claim_updates_flow_from_the_insurer_to_the_platform(kafka, worker):
    platform = f"p{uuid.uuid4().hex[:8]}"
    paid, refused, late = (f"GD-{uuid.uuid4().hex[:12]}" for _ in range(3))
    life = [claim_update(platform, paid, "INC-1", "RECEIVED"),
            claim_update(platform, paid, "INC-1", "UNDER_REVIEW"),
            claim_update(platform, paid, "INC-1", "DETERMINED", "ACCEPTED"),
            claim_update(platform, paid, "INC-1", "PAID")]
    sends = [(paid, life[0]), (paid, life[1]), (paid, dict(life[1])), (paid, life[2]), (paid, life[3]),
             (refused, claim_update(platform, refused, "INC-2", "RECEIVED")),
             (refused, claim_update(platform, refused, "INC-2", "PAID")),  # skips review and determination
             (late, claim_update(platform, late, "INC-3", "RECEIVED", at_ms=int(time.time() * 1000) - 20 * DAY_MS))]
    p = producer(kafka)
    version = CATALOG.contract("claim_status").latest
    for key, record in sends:
        p.send(claim_status_topic(PROVINCE), key=key.encode(), value=encode(version, record)).get(30)
    p.close()

    def platform_claims():
        records = read_all(kafka, f"platform.{platform}.claims")
        return records if len(records) >= 6 else None

    routed = wait_for(platform_claims, 120, "six routed claim updates")
    decoded = [(r.key, decode(CATALOG, r.value).record) for r in routed]
    assert len(decoded) == 6  # the repeat of UNDER_REVIEW and the illegal PAID are not routed
    assert [rec for key, rec in decoded if key == b"INC-1"] == life  # in order, keyed by the incident
    assert {key for key, _ in decoded} == {b"INC-1", b"INC-2", b"INC-3"}

    def refusal():
        mine = [decode(CATALOG, r.value).record for r in read_all(kafka, claim_rejections_topic(PROVINCE))]
        mine = [r for r in mine if r["platform_id"] == platform]
        return mine or None

    (rejection,) = wait_for(refusal, 30, "the illegal update's rejection")
    assert (rejection["reason"], rejection["event_id"]) == ("status_skipped", sends[6][1]["event_id"])
    assert wait_for(lambda: worker.metric("gigbridge_claim_updates_total", province=PROVINCE, outcome="repeat") >= 1,
                    30, "the repeat counted")
    assert wait_for(lambda: worker.metric("gigbridge_claims_determination_overdue", province=PROVINCE,
                                          platform=platform) == 1, 30, "the late claim counted as overdue")


def test_http_updates_share_the_kafka_paths_validation_and_state(kafka, worker):
    """A claim received over Kafka moves on over HTTP (signed), and an HTTP update that is not
    a legal next step is refused by the same stream; a badly signed request writes nothing."""
    from connectors.gateway import KafkaEventProducer
    from connectors.gateway.claims import InsurerDirectory
    from connectors.gateway.config import hash_token
    from tests.connectors.gateway.helpers import kafka_settings, running_gateway

    platform = f"p{uuid.uuid4().hex[:8]}"
    claim = f"GD-{uuid.uuid4().hex[:12]}"
    p = producer(kafka)
    p.send(claim_status_topic(PROVINCE), key=claim.encode(),
           value=encode(CATALOG.contract("claim_status").latest, claim_update(platform, claim, "INC-4", "RECEIVED"))
           ).get(30)
    p.close()
    insurers = InsurerDirectory.parse({"guangdong-injury": {"token_sha256": hash_token("tok"), "signing_secret": "s"}},
                                      {"guangdong-injury": PROVINCE})
    review = claim_update(platform, claim, "INC-4", "UNDER_REVIEW")
    regress = claim_update(platform, claim, "INC-4", "RECEIVED")
    regress["event_id"] = str(uuid.uuid4())  # a new RECEIVED after UNDER_REVIEW: a regression

    async def insurer_posts() -> list[int]:
        producer = KafkaEventProducer.from_settings(kafka_settings(kafka))
        await producer.start()
        # the producer connects in the background: on a busy broker a request sent at once gets 503
        assert await producer.wait_ready(30), producer.last_error
        async with running_gateway(producer=producer, clock=time.time, insurers=insurers) as gw:
            return [(await post_signed(gw, updates, secret)).status
                    for updates, secret in (([review], "wrong"), ([review], "s"), ([regress], "s"))]

    # a bad signature writes nothing; the regression is accepted into the topic, the stream refuses it
    assert asyncio.run(insurer_posts()) == [401, 200, 200]

    def routed():
        records = [decode(CATALOG, r.value).record for r in read_all(kafka, f"platform.{platform}.claims")]
        return records if len(records) >= 2 else None

    assert [r["status"] for r in wait_for(routed, 60, "RECEIVED then UNDER_REVIEW")] == ["RECEIVED", "UNDER_REVIEW"]

    def refusal():
        mine = [decode(CATALOG, r.value).record for r in read_all(kafka, claim_rejections_topic(PROVINCE))]
        return [r for r in mine if r["platform_id"] == platform] or None

    (rejection,) = wait_for(refusal, 30, "the regression refused")
    assert (rejection["reason"], rejection["event_id"]) == ("status_regression", regress["event_id"])


@pytest.fixture
def hub_user_under_acls(kafka):
    """An access file with a hub user and the insurer of PROVINCE (unique names) applied on the
    broker as production applies deploy/access.yaml: the hub's prefix grants and its DENY WRITE on
    the insurer's claim-status topic. Yields the hub's connection; ACLs and users are dropped after."""
    from tests.support.acl_users import applied_access

    tag = uuid.uuid4().hex[:8]
    hub, insurer = f"claims-hub-{tag}", f"claims-ins-{tag}"
    with applied_access(kafka, {"hub": {"user": hub, "app_id": f"claims-app-{tag}"},
                                "insurers": [{"name": insurer, "province": PROVINCE, "user": insurer}]}) as users:
        yield users[hub]


def test_http_claims_pass_the_production_acls_as_the_hub_user(kafka, worker, hub_user_under_acls):
    """The gateway runs as the hub's least-privilege user (docker-compose, k8s), never as the
    super user: a signed update is answered 200 and reaches the platform's claims topic through
    hub.claim-status.gateway, while the hub user still may not write the insurer's own topic."""
    from kafka import KafkaProducer
    from kafka.errors import TopicAuthorizationFailedError

    from connectors.gateway import KafkaEventProducer
    from connectors.gateway.claims import InsurerDirectory
    from connectors.gateway.config import hash_token
    from streams.core.cover.claim_flow import GATEWAY_CLAIM_STATUS_TOPIC
    from tests.connectors.gateway.helpers import kafka_settings, running_gateway
    from tests.support.acl_users import wait_until_authorized

    hub = hub_user_under_acls

    wait_until_authorized(hub, GATEWAY_CLAIM_STATUS_TOPIC)
    platform = f"p{uuid.uuid4().hex[:8]}"
    claim = f"GD-{uuid.uuid4().hex[:12]}"
    received = claim_update(platform, claim, "INC-6", "RECEIVED")
    insurers = InsurerDirectory.parse({"guangdong-injury": {"token_sha256": hash_token("tok"), "signing_secret": "s"}},
                                      {"guangdong-injury": PROVINCE})

    async def insurer_posts() -> tuple[int, dict]:
        gateway_producer = KafkaEventProducer.from_settings(kafka_settings(hub))
        await gateway_producer.start()
        assert await gateway_producer.wait_ready(30), gateway_producer.last_error
        async with running_gateway(producer=gateway_producer, clock=time.time, insurers=insurers) as gw:
            resp = await post_signed(gw, [received], "s")
            return resp.status, await resp.json()

    status, body = asyncio.run(insurer_posts())
    assert status == 200, body  # was 503 kafka-unavailable while the gateway wrote the insurer's topic
    assert body["topic"] == GATEWAY_CLAIM_STATUS_TOPIC

    def routed():
        return [decode(CATALOG, r.value).record for r in read_all(kafka, f"platform.{platform}.claims")] or None

    assert wait_for(routed, 60, "the HTTP update routed to the platform") == [received]

    forger = KafkaProducer(**hub.kafka_python_config(), acks="all", max_block_ms=10_000, request_timeout_ms=10_000)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            forger.send(claim_status_topic(PROVINCE), key=claim.encode(),
                        value=encode(CATALOG.contract("claim_status").latest, received)).get(timeout=15)
    finally:
        forger.close(timeout=5)


def test_claim_state_survives_a_worker_replaced_on_a_fresh_disk(kafka, tmp_path):
    """The claims table is restored from its changelog: a worker of the same app on an empty data
    directory still knows the claim (UNDER_REVIEW is routed, not refused as claim_not_received).
    Judged by that worker's own metrics and its group's committed offsets: other test workers
    read the same insurer topic in their own groups."""
    from gigbridge.topics_admin import TopicAdmin

    app_id = f"hub-claims-restore-{uuid.uuid4().hex[:8]}"
    claim = f"GD-{uuid.uuid4().hex[:12]}"
    topic = claim_status_topic(PROVINCE)
    version = CATALOG.contract("claim_status").latest
    admin = TopicAdmin(hub_settings(kafka))

    def send(status) -> tuple[int, int]:
        p = producer(kafka)
        meta = p.send(topic, key=claim.encode(), value=encode(version, claim_update("restore", claim, "INC-5", status))
                      ).get(30)
        p.close()
        return meta.partition, meta.offset

    def committed_past(partition, offset) -> bool:
        return admin.group_offsets(app_id).get((topic, partition), -1) > offset

    try:
        for run, status in enumerate(("RECEIVED", "UNDER_REVIEW")):
            hub = HubProcess(kafka, ["worker"], tmp_path / f"run-{run}",  # a new, empty data directory each time
                             {"GIGBRIDGE_APP_ID": app_id}).start()
            try:
                partition, offset = send(status)
                wait_for(lambda: committed_past(partition, offset), 120, f"{status} processed and committed")
                if run == 1:  # this worker read only UNDER_REVIEW: routed, so it knew the claim
                    assert hub.metric("gigbridge_claim_updates_total", province=PROVINCE, outcome="routed") == 1
                    assert hub.metric("gigbridge_claim_updates_total", province=PROVINCE, outcome="illegal") == 0
            finally:
                assert hub.stop() == 0, hub.log_tail()
    finally:
        admin.close()
