"""POST /v1/alerts/cap and `gigbridge alerts import` on the real broker: a CAP warning becomes
WeatherNotice records on gov.notices.<province> (wire format) before the answer; updates and
cancels found through the published notices; hostile or broken XML is refused with an RFC 9457
problem and publishes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path

import pytest

from connectors.gateway import KafkaEventProducer, TokenStore
from gigbridge.cli import main
from schemas.catalog import default_catalog
from schemas.wire import MAGIC_BYTE, decode
from tests.connectors.gateway.helpers import kafka_settings, running_gateway
from tests.support.kafka_io import read_all

pytestmark = pytest.mark.kafka

CATALOG = default_catalog()
CAP_DIR = Path(__file__).resolve().parents[2] / "data" / "cap"
SOURCE_TOKEN = "cma-source-token-for-tests"
PROBLEM = "https://gigbridge.example/problems/"


def cap(name: str, run: str) -> bytes:
    """A test document with identifiers unique to this run (the broker is shared by the session)."""
    return (CAP_DIR / name).read_bytes().replace(b"0041600000-", f"00416{run}-".encode())


def notices_of(kafka, province: str, run: str) -> list[dict]:
    records = read_all(kafka, f"gov.notices.{province}")
    out = []
    for r in records:
        assert r.value[0] == MAGIC_BYTE
        notice = decode(CATALOG, r.value, expect_contract="weather_notice").record
        if run in notice["notice_id"]:
            assert r.key == notice["notice_id"].encode()
            out.append(notice)
    return out


async def post(gw, body: bytes, token: str = SOURCE_TOKEN):
    resp = await gw.session.post(f"{gw.url}/v1/alerts/cap", data=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"})
    return resp, await resp.json(content_type=None)


@contextlib.asynccontextmanager
async def cap_gateway(kafka):
    settings = kafka_settings(kafka)
    producer = KafkaEventProducer.from_settings(settings)
    await producer.start()
    assert await producer.wait_ready(20), producer.last_error
    async with running_gateway(producer=producer, settings=settings,
                               cap_sources=TokenStore.from_tokens({"cma-test": SOURCE_TOKEN})) as gw:
        yield gw


async def test_posted_warning_is_on_the_province_topic_before_the_answer(kafka):
    async with cap_gateway(kafka) as gateway:
        run = uuid.uuid4().hex[:6]
        resp, body = await post(gateway, cap("heat_orange_shenzhen.xml", run))
        assert resp.status == 201, body
        assert body["published"] == ["gov.notices.44"] and body["revision"] == 0
        [notice] = await asyncio.to_thread(notices_of, kafka, "44", run)
        assert notice["notice_id"] == body["notice_id"]
        assert (notice["warning_type"], notice["level"], notice["msg_type"]) == ("HEAT", "ORANGE", "ALERT")
        assert notice["division_codes"] and all(c.startswith("4403") for c in notice["division_codes"])
        again, body = await post(gateway, cap("heat_orange_shenzhen.xml", run))
        assert (again.status, body["status"]) == (200, "repeat")
        assert len(await asyncio.to_thread(notices_of, kafka, "44", run)) == 1


async def test_update_and_cancel_find_the_notice_through_the_published_records(kafka):
    async with cap_gateway(kafka) as gateway:
        run = uuid.uuid4().hex[:6]
        for name, status in [("typhoon_orange_update_zhejiang.xml", 409), ("typhoon_yellow_zhejiang.xml", 201),
                             ("typhoon_orange_update_zhejiang.xml", 201), ("typhoon_cancel_zhejiang.xml", 201),
                             ("typhoon_orange_update_zhejiang.xml", 200)]:
            resp, body = await post(gateway, cap(name, run))
            assert resp.status == status, (name, body)
        notices = await asyncio.to_thread(notices_of, kafka, "33", run)
        assert [(n["revision"], n["msg_type"], n["level"]) for n in notices] == [
            (0, "ALERT", "YELLOW"), (1, "UPDATE", "ORANGE"), (2, "CANCEL", "ORANGE")]


@pytest.mark.parametrize("name, status, slug", [
    ("billion_laughs.xml", 400, "cap-entity-forbidden"),
    ("external_entity.xml", 400, "cap-external-reference-forbidden"),
    ("external_dtd.xml", 400, "cap-dtd-forbidden"),
    ("malformed_unclosed.xml", 400, "cap-malformed-xml"),
    ("schema_invalid_severity.xml", 422, "cap-schema-invalid"),
    ("unknown_division.xml", 422, "cap-no-division"),
])
async def test_hostile_or_broken_documents_are_problems_and_publish_nothing(kafka, name, status, slug):
    async with cap_gateway(kafka) as gateway:
        before = {p: len(await asyncio.to_thread(read_all, kafka, f"gov.notices.{p}")) for p in ("11", "33", "44")}
        resp, body = await post(gateway, (CAP_DIR / name).read_bytes())
        assert resp.status == status and resp.content_type == "application/problem+json", body
        assert body["type"] == PROBLEM + slug and body["instance"] == "/v1/alerts/cap"
        after = {p: len(await asyncio.to_thread(read_all, kafka, f"gov.notices.{p}")) for p in ("11", "33", "44")}
        assert after == before


async def test_oversize_document_and_wrong_token_are_refused(kafka):
    async with cap_gateway(kafka) as gateway:
        big = cap("heat_orange_shenzhen.xml", "big").replace(b"</alert>", b"<!--" + b"x" * 300_000 + b"--></alert>")
        resp, body = await post(gateway, big)
        assert (resp.status, body["type"]) == (413, PROBLEM + "cap-too-large")
        resp, body = await post(gateway, cap("heat_orange_shenzhen.xml", "tok"), token="platform-token")
        assert (resp.status, body["type"]) == (401, PROBLEM + "invalid-token")
        assert not await asyncio.to_thread(lambda: notices_of(kafka, "44", "big") + notices_of(kafka, "44", "tok"))


def test_import_command_publishes_through_the_same_intake(kafka, tmp_path, monkeypatch, capsys):
    run = uuid.uuid4().hex[:6]
    files = []
    for name in ("typhoon_yellow_zhejiang.xml", "typhoon_orange_update_zhejiang.xml", "billion_laughs.xml"):
        files.append(tmp_path / name)
        files[-1].write_bytes(cap(name, run))
    for name, value in kafka.as_env().items():
        monkeypatch.setenv(name, value)
    assert main(["alerts", "import", *map(str, files)]) == 1  # the billion-laughs file is refused
    out = capsys.readouterr()
    assert [json.loads(line)["topic"] for line in out.out.splitlines()] == ["gov.notices.33", "gov.notices.33"]
    assert json.loads(out.err)["problem"]["type"] == PROBLEM + "cap-entity-forbidden"
    assert [n["revision"] for n in notices_of(kafka, "33", run)] == [0, 1]
