"""POST /v1/alerts/cap without a broker: the intake's Kafka side is injected (published notices
read back from memory, a publisher that records or fails)."""

from __future__ import annotations

from pathlib import Path

from connectors.gateway import TokenStore
from connectors.gateway.producer import ProduceError
from gigbridge.divisions import default_table
from schemas.catalog import default_catalog
from schemas.wire import decode
from streams.loaders.notices import load_cap_schema
from streams.runtime.notices.intake import CapIntake
from tests.connectors.gateway.helpers import running_gateway

CAP_DIR = Path(__file__).resolve().parents[2] / "data" / "cap"
CATALOG = default_catalog()
PROBLEM = "https://gigbridge.example/problems/"


class MemoryLog:
    def __init__(self, fail: bool = False) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []
        self.fail = fail

    async def read(self) -> list[dict]:
        return [decode(CATALOG, value).record for _, _, value in self.records]

    async def publish(self, records) -> None:
        if self.fail:
            raise ProduceError("broker down")
        self.records += records


def intake(log: MemoryLog) -> CapIntake:
    return CapIntake(schema=load_cap_schema, division_exists=default_table().exists, catalog=CATALOG,
                     read_published=log.read, publish=log.publish)


async def post(gw, name: str, *, token: str = "src-token", content_type: str = "application/cap+xml"):
    resp = await gw.session.post(f"{gw.url}/v1/alerts/cap", data=(CAP_DIR / name).read_bytes(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
    return resp, await resp.json(content_type=None)


def gateway(log: MemoryLog):
    return running_gateway(cap_intake=intake(log), cap_sources=TokenStore.from_tokens({"cma-test": "src-token"}))


async def test_alert_update_cancel_chain_through_the_published_log():
    log = MemoryLog()
    async with gateway(log) as gw:
        for name in ("typhoon_yellow_zhejiang.xml", "typhoon_orange_update_zhejiang.xml", "typhoon_cancel_zhejiang.xml"):
            resp, body = await post(gw, name)
            assert resp.status == 201, body
        resp, body = await post(gw, "typhoon_orange_update_zhejiang.xml")
    assert (resp.status, body["status"]) == (200, "repeat")
    assert [decode(CATALOG, v).record["msg_type"] for _, _, v in log.records] == ["ALERT", "UPDATE", "CANCEL"]
    assert {topic for topic, _, _ in log.records} == {"gov.notices.33"}


async def test_refusals_publish_nothing():
    log = MemoryLog()
    async with gateway(log) as gw:
        resp, body = await post(gw, "heat_orange_shenzhen.xml", token="someone-else")
        assert (resp.status, body["type"]) == (401, PROBLEM + "invalid-token")
        resp, body = await post(gw, "heat_orange_shenzhen.xml", content_type="application/json")
        assert (resp.status, body["type"]) == (415, PROBLEM + "unsupported-media-type")
        resp, body = await post(gw, "typhoon_cancel_zhejiang.xml")
        assert (resp.status, body["type"]) == (409, PROBLEM + "cap-unknown-reference")
        resp, body = await post(gw, "exercise_not_actual.xml")
        assert (resp.status, body["type"]) == (422, PROBLEM + "cap-not-actual")
    assert log.records == []


async def test_kafka_down_is_503_and_retryable():
    async with gateway(MemoryLog(fail=True)) as gw:
        resp, body = await post(gw, "heat_orange_shenzhen.xml")
    assert (resp.status, body["type"]) == (503, PROBLEM + "kafka-unavailable")
    assert resp.headers["Retry-After"]
