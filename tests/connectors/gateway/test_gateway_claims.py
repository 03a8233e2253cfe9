"""Claim status over HTTP (connectors.gateway.claims) without a broker: the insurer's token,
the body signature, its province, per-update reason codes, and what reaches the producer."""

from __future__ import annotations

import json
import uuid

import pytest

from connectors.gateway.claims import InsurerDirectory
from connectors.gateway.config import GatewayConfigError, hash_token
from connectors.signing import signature_headers
from schemas.catalog import default_catalog
from schemas.wire import decode
from tests.connectors.gateway.helpers import Clock, RecordingProducer, problem, running_gateway

TOKEN, SECRET = "tok-insurer-44-5c0ffee", "insurer-44-signing-secret"
INSURERS = {"guangdong-injury": {"token_sha256": hash_token(TOKEN), "signing_secret": SECRET}}
PROVINCES = {"guangdong-injury": "44", "beijing-injury": "11"}
CATALOG = default_catalog()


def update(clock: Clock, status="RECEIVED", **kw) -> dict:
    return {"event_id": str(uuid.uuid4()), "platform_id": "swiftdash", "incident_id": "INC-9",
            "claim_ref": "GD-OIP-9", "occurred_at": int(clock() * 1000) - 60_000, "status": status,
            "decision": None, "reason_code": None, **kw}


async def post(gw, clock, body: bytes, *, province="44", token=TOKEN, secret=SECRET, headers=None):
    hdrs = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
            **signature_headers(secret, body, clock())}
    hdrs.update(headers or {})
    return await gw.session.post(f"{gw.url}/v1/insurance/{province}/claim-status", data=body, headers=hdrs)


@pytest.fixture
def clock():
    return Clock()


def gateway(producer, clock):
    return running_gateway(producer=producer, clock=clock, insurers=InsurerDirectory.parse(INSURERS, PROVINCES))


async def test_a_signed_update_goes_to_the_hubs_topic_keyed_by_claim_with_the_verified_province(clock):
    """The gateway runs as the hub, which may not write the insurer's topic: the update goes to
    hub.claim-status.gateway with the province of the insurer's token (the contract has none)."""
    producer = RecordingProducer()
    sent = [update(clock), update(clock, "UNDER_REVIEW")]
    async with gateway(producer, clock) as gw:
        resp = await post(gw, clock, json.dumps(sent).encode())
        body = await resp.json()
    assert resp.status == 200, body
    assert body == {"insurer": "guangdong-injury", "topic": "hub.claim-status.gateway", "accepted": 2}
    ((topic, records, headers),) = producer.sent
    assert topic == "hub.claim-status.gateway"
    assert headers == [("gigbridge-province", b"44")]
    assert [(key, decode(CATALOG, value).record) for key, value in records] == [(b"GD-OIP-9", r) for r in sent]


@pytest.mark.parametrize("tamper", ["body", "secret", "stale", "missing"])
async def test_a_bad_signature_is_401_and_nothing_is_written(clock, tamper):
    producer = RecordingProducer()
    body = json.dumps([update(clock)]).encode()
    async with gateway(producer, clock) as gw:
        if tamper == "body":
            signed = signature_headers(SECRET, body, clock())
            resp = await post(gw, clock, body.replace(b"RECEIVED", b"PAID\x20\x20\x20\x20"), headers=signed)
        elif tamper == "secret":
            resp = await post(gw, clock, body, secret="not-the-secret")
        elif tamper == "stale":
            resp = await post(gw, clock, body, headers=signature_headers(SECRET, body, clock() - 600))
        else:
            resp = await post(gw, clock, body, headers={"X-Gigbridge-Signature": ""})
        await problem(resp, 401, "invalid-signature")
    assert producer.sent == []


async def test_a_bad_or_missing_token_is_401(clock):
    async with gateway(RecordingProducer(), clock) as gw:
        await problem(await post(gw, clock, b"[]", token="tok-guess"), 401, "invalid-token")
        await problem(await post(gw, clock, b"[]", headers={"Authorization": ""}), 401, "missing-token")
        # a platform's token is not an insurer's
        await problem(await post(gw, clock, b"[]", token="tok-swiftdash-6a1f0c2e9b"), 401, "invalid-token")


async def test_another_provinces_topic_is_403(clock):
    producer = RecordingProducer()
    async with gateway(producer, clock) as gw:
        await problem(await post(gw, clock, json.dumps([update(clock)]).encode(), province="11"), 403,
                      "wrong-province")
    assert producer.sent == []


async def test_invalid_updates_are_400_with_every_reason_and_nothing_is_written(clock):
    producer = RecordingProducer()
    sent = [update(clock), update(clock, "DETERMINED"), update(clock, claim_ref="has space"),
            update(clock, status="LOST")]
    async with gateway(producer, clock) as gw:
        body = await problem(await post(gw, clock, json.dumps(sent).encode()), 400, "invalid-claim-status")
    assert [(e["index"], e["reason"]) for e in body["errors"]] == [
        (1, "invalid_claim_decision"), (2, "invalid_claim_ref"), (3, "schema_violation")]
    assert producer.sent == []


def test_an_insurer_missing_from_the_access_file_is_a_start_up_error():
    with pytest.raises(GatewayConfigError, match="not an insurer"):
        InsurerDirectory.parse({"nobody": INSURERS["guangdong-injury"]}, PROVINCES)


async def test_the_route_is_in_the_openapi_document(clock):
    async with gateway(RecordingProducer(), clock) as gw:
        doc = await (await gw.session.get(f"{gw.url}/openapi.json")).json()
    operation = doc["paths"]["/v1/insurance/{province}/claim-status"]["post"]
    assert set(operation["responses"]) >= {"200", "400", "401", "403"}
    assert "ClaimStatus" in doc["components"]["schemas"]
