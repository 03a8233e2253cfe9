"""Insured incidents reach the provincial insurer's HTTP endpoint through the real broker:
exactly one claim per event (idempotency keys), a receipt per delivery, permanent refusals in
the insurer's DLQ topic, and nothing lost while the endpoint is down."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from schemas.catalog import default_catalog
from schemas.examples import REFERENCE_NOW_MS, load_examples
from schemas.wire import decode, encode
from streams.core.topics import ingest_topic
from tests.support.kafka_io import HubProcess, free_port, onboard, producer, read_all, wait_for

pytestmark = pytest.mark.kafka

CATALOG = default_catalog()
SECRET = "insurer-44-test-secret"
PLATFORM = "claims-test"


def incident(n: int, platform: str = PLATFORM) -> dict:
    base = next(e.payload for e in load_examples(contract="incident_report", kind="valid"))
    record = copy.deepcopy(base)
    shift = int(time.time() * 1000) - REFERENCE_NOW_MS
    record.update(event_id=str(uuid.uuid4()), platform_id=platform, insured=True, division_code="440305000000",
                  incident_id=f"inc-{n}", occurred_at=record["occurred_at"] + shift,
                  reported_at=record["reported_at"] + shift)
    return record


class Endpoint:
    def __init__(self, workdir) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gigbridge.cli", "sim-endpoint", "--port", str(self.port), "--secret", SECRET],
            stdout=subprocess.PIPE, stderr=(workdir / "endpoint.log").open("wb"))
        wait_for(self._healthy, 30, "sim endpoint up")

    def _get(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
            return json.loads(resp.read())

    def _healthy(self) -> bool:
        try:
            return self._get("/healthz")["ok"]
        except OSError:
            return False

    def control(self, **body) -> None:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/_control", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=5).read()

    def received(self) -> list[dict]:
        return self._get("/_received")

    def stats(self) -> dict:
        return self._get("/_stats")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def setup(kafka, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("delivery")
    endpoint = Endpoint(workdir)
    endpoints = {"44": {"url": f"http://127.0.0.1:{endpoint.port}/claims", "secret": SECRET}}
    onboard(kafka, PLATFORM)
    hub = HubProcess(kafka, ["worker"], workdir, {
        "GIGBRIDGE_APP_ID": f"hub-delivery-{uuid.uuid4().hex[:8]}",
        "GIGBRIDGE_INSURER_ENDPOINTS": json.dumps(endpoints),
        "GIGBRIDGE_SINK_MAX_BACKOFF_S": "2",
        "GIGBRIDGE_TOPIC_DISCOVERY_INTERVAL_S": "2"}).start()
    wait_for(lambda: hub.metric("gigbridge_subscribed_ingest_topics") >= 3, 90, "worker subscribed")
    yield kafka, hub, endpoint
    hub.stop()
    endpoint.stop()


def send(kafka, records) -> None:
    p = producer(kafka)
    for r in records:
        p.send(ingest_topic(PLATFORM, "incidents"), key=r["incident_id"].encode(),
               value=encode(CATALOG.contract("incident_report").latest, r)).get(30)
    p.close()


def claims_by_key(endpoint) -> dict[str, list]:
    out: dict[str, list] = {}
    for claim in endpoint.received():
        out.setdefault(claim["idempotency_key"], []).append(claim)
    return out


def test_each_insured_incident_becomes_one_claim_with_a_receipt(setup):
    kafka, hub, endpoint = setup
    records = [incident(n) for n in range(20)]
    send(kafka, records)
    ids = {r["event_id"] for r in records}
    wait_for(lambda: ids <= set(claims_by_key(endpoint)), 90, "claims at the endpoint")
    claims = claims_by_key(endpoint)
    assert all(len(claims[i]) == 1 for i in ids)
    body = claims[records[0]["event_id"]][0]["payload"]
    assert body["event_type"] == "incidents" and body["event"]["worker_ref"] == records[0]["worker_ref"]
    receipts = wait_for(lambda: (r := [decode(CATALOG, m.value).record for m in read_all(kafka, "gov.insurance.44.receipts")])
                        and ids <= {x["event_id"] for x in r} and r, 60, "receipts")
    mine = [r for r in receipts if r["event_id"] in ids]
    assert len(mine) == len(ids)
    assert all(r["claim_reference"].startswith("CLM-") and r["destination"] == "insurer-44" for r in mine)


def test_endpoint_down_then_back_loses_nothing_and_duplicates_nothing(setup):
    kafka, hub, endpoint = setup
    endpoint.control(mode="down", count=15)
    records = [incident(100 + n) for n in range(10)]
    send(kafka, records)
    ids = {r["event_id"] for r in records}
    wait_for(lambda: ids <= set(claims_by_key(endpoint)), 120, "claims after the outage")
    claims = claims_by_key(endpoint)
    assert all(len(claims[i]) == 1 for i in ids)  # one claim per idempotency key
    assert endpoint.stats()["dropped"] >= 15
    assert hub.metric("gigbridge_sink_retries_total") > 0


def test_permanent_refusal_goes_to_the_insurers_dlq(setup):
    kafka, hub, endpoint = setup
    endpoint.control(mode="400", count=1)
    record = incident(999)
    send(kafka, [record])

    def dead_letters():
        return [x for x in (decode(CATALOG, m.value).record for m in read_all(kafka, "gov.insurance.44.dlq"))
                if x["event_id"] == record["event_id"]]

    [dead] = wait_for(dead_letters, 60, "dead letter")
    assert dead["reason"] == "http_400" and dead["endpoint_status"] == 400
    assert dead["source_topic"] == "gov.insurance.44.incidents"
