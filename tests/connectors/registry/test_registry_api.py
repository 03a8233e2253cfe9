"""Every endpoint of the read-only Confluent-compatible registry, served from the catalog."""

from __future__ import annotations

import copy
import json

import aiohttp
import pytest
from aiohttp import web

from connectors.registry import CONTENT_TYPE, create_registry_app
from schemas.catalog import default_catalog

CATALOG = default_catalog()
SITE = CATALOG.contract("site_event").latest
INCIDENT = CATALOG.contract("incident_report").latest
BROKER_TOPICS = ["platform.swiftdash.sites", "platform.swiftdash.rejected", "platform.cityride.incidents",
                 "gov.office.310101000000.sites", "__consumer_offsets", "some.other.topic", "hub.dlq"]


class Registry:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def get(self, path: str, **kw) -> tuple[int, object]:
        async with self.session.get(self.url + path, **kw) as resp:
            assert resp.content_type == CONTENT_TYPE, await resp.text()
            return resp.status, await resp.json(content_type=None)

    async def send(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        async with self.session.request(method, self.url + path, data=None if body is None else json.dumps(body),
                                        headers={"Content-Type": CONTENT_TYPE}) as resp:
            assert resp.content_type == CONTENT_TYPE
            return resp.status, await resp.json(content_type=None)


def registry(lister=None):
    async def default_lister():
        return BROKER_TOPICS

    class Ctx:
        async def __aenter__(self):
            app = create_registry_app(topic_lister=lister or default_lister)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]
            self.session = aiohttp.ClientSession()
            return Registry(self.session, f"http://127.0.0.1:{port}")

        async def __aexit__(self, *exc):
            await self.session.close()
            await self.runner.cleanup()

    return Ctx()


def schema_body(schema: object) -> dict:
    return {"schema": json.dumps(schema)}


async def test_subjects_lists_fixed_and_existing_topics():
    async with registry() as r:
        status, subjects = await r.get("/subjects")
        assert status == 200
        assert subjects == sorted([
            "gov.office.310101000000.sites-value", "gov.regulator.algorithm-changes-value", "hub.cases.state-value",
            "hub.claim-status.gateway-value", "hub.cover.incidents-value",
            "hub.dlq-value", "hub.validated.case-events-value", "hub.validated.cases-value", "hub.validated.incident-acks-value",
            "hub.validated.claim-status-value", "hub.validated.headcounts-value", "hub.validated.incidents-value",
            "hub.validated.orders-value", "hub.validated.sites-value", "platform.cityride.incidents-value",
            "platform.swiftdash.rejected-value", "platform.swiftdash.sites-value", "public.algorithm-register-value"])
        assert (await r.get("/subjects", params={"subjectPrefix": "platform.swift"}))[1] == [
            "platform.swiftdash.rejected-value", "platform.swiftdash.sites-value"]


async def test_subjects_survive_a_failing_topic_lister():
    async def broken():
        raise ConnectionError("broker down")

    async with registry(broken) as r:
        status, subjects = await r.get("/subjects")
    assert status == 200 and "hub.dlq-value" in subjects and not any(s.startswith("platform.") for s in subjects)


async def test_versions_of_any_matching_topic_resolve_on_request():
    async with registry() as r:
        assert await r.get("/subjects/platform.brand-new.sites-value/versions") == (200, [1])
        assert await r.get("/subjects/platform.brand-new.orders-value/versions") == (200, [1])
        assert (await r.get("/subjects/platform.x.parcels-value/versions"))[1]["error_code"] == 40401
        assert (await r.get("/subjects/platform.x.sites-key/versions"))[0] == 404
        # RecordNameStrategy and TopicRecordNameStrategy subjects
        assert await r.get("/subjects/io.gigbridge.events.SiteEvent/versions") == (200, [1])
        assert await r.get("/subjects/platform.x.sites-io.gigbridge.events.SiteEvent/versions") == (200, [1])
        assert (await r.get("/subjects/platform.x.sites-io.gigbridge.events.IncidentReport/versions"))[0] == 404


@pytest.mark.parametrize("version", ["latest", "1", "-1"])
async def test_subject_version(version):
    async with registry() as r:
        status, body = await r.get(f"/subjects/platform.acme.sites-value/versions/{version}")
    assert status == 200
    assert body == {"subject": "platform.acme.sites-value", "version": 1, "id": SITE.schema_id,
                    "schema": body["schema"]}
    assert json.loads(body["schema"]) == SITE.schema


async def test_subject_version_errors_and_raw_schema():
    async with registry() as r:
        assert await r.get("/subjects/platform.acme.sites-value/versions/2") == (
            404, {"error_code": 40402, "message": "Version 2 not found."})
        status, body = await r.get("/subjects/platform.acme.sites-value/versions/abc")
        assert status == 422 and body["error_code"] == 42202
        assert (await r.get("/subjects/platform.acme.sites-value/versions/0"))[1]["error_code"] == 42202
        assert await r.get("/subjects/platform.acme.sites-value/versions/latest/schema") == (200, SITE.schema)
        assert await r.get("/subjects/platform.acme.sites-value/versions/1/referencedby") == (200, [])


async def test_schema_by_id():
    async with registry() as r:
        status, body = await r.get(f"/schemas/ids/{INCIDENT.schema_id}")
        assert status == 200 and json.loads(body["schema"]) == INCIDENT.schema
        ok = await r.get(f"/schemas/ids/{INCIDENT.schema_id}", params={"subject": "platform.acme.incidents-value"})
        assert ok[0] == 200
        wrong = await r.get(f"/schemas/ids/{INCIDENT.schema_id}", params={"subject": "platform.acme.sites-value"})
        assert wrong[0] == 404 and wrong[1]["error_code"] == 40403
        for bad in ("999", "abc"):
            assert (await r.get(f"/schemas/ids/{bad}"))[1]["error_code"] == 40403
        assert await r.get(f"/schemas/ids/{INCIDENT.schema_id}/schema") == (200, INCIDENT.schema)
        assert await r.get("/schemas/types") == (200, ["AVRO"])


async def test_schema_id_versions_and_subjects():
    async with registry() as r:
        status, body = await r.get(f"/schemas/ids/{SITE.schema_id}/versions")
        assert status == 200
        assert body == [{"subject": s, "version": 1} for s in (
            "gov.office.310101000000.sites-value", "hub.validated.sites-value", "platform.swiftdash.sites-value")]
        assert (await r.get(f"/schemas/ids/{SITE.schema_id}/subjects"))[1] == [b["subject"] for b in body]
        assert (await r.get("/schemas/ids/77/versions"))[1]["error_code"] == 40403


async def test_lookup_compares_parsing_canonical_form():
    reformatted = copy.deepcopy(SITE.schema)
    reformatted["doc"] = "a different doc: not part of the canonical form"
    for f in reformatted["fields"]:
        f.pop("doc", None)
    async with registry() as r:
        status, body = await r.send("POST", "/subjects/platform.acme.sites-value", schema_body(reformatted))
        assert status == 200
        assert (body["subject"], body["id"], body["version"]) == ("platform.acme.sites-value", SITE.schema_id, 1)
        assert json.loads(body["schema"]) == SITE.schema  # the registered text, not the posted one
        changed = copy.deepcopy(SITE.schema)
        changed["fields"].append({"name": "extra", "type": ["null", "string"], "default": None})
        status, body = await r.send("POST", "/subjects/platform.acme.sites-value", schema_body(changed))
        assert (status, body["error_code"]) == (404, 40403)
        status, body = await r.send("POST", "/subjects/platform.acme.sites-value", schema_body(INCIDENT.schema))
        assert (status, body["error_code"]) == (404, 40403)
        status, body = await r.send("POST", "/subjects/nothing-value", schema_body(SITE.schema))
        assert (status, body["error_code"]) == (404, 40401)
        status, body = await r.send("POST", "/subjects/platform.acme.sites-value", {"schema": "{not json"})
        assert (status, body["error_code"]) == (422, 42201)
        status, body = await r.send("POST", "/subjects/platform.acme.sites-value",
                                    {"schema": json.dumps({"type": "record", "name": "X", "fields": [
                                        {"name": "a", "type": "nosuchtype"}]})})
        assert (status, body["error_code"]) == (422, 42201)
        status, body = await r.send("POST", "/subjects/platform.acme.sites-value",
                                    {"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"})
        assert (status, body["error_code"]) == (422, 42201)


async def test_registration_is_refused_except_for_registered_schemas():
    new = copy.deepcopy(SITE.schema)
    new["fields"].append({"name": "extra", "type": ["null", "string"], "default": None})
    async with registry() as r:
        assert await r.send("POST", "/subjects/platform.acme.sites-value/versions", schema_body(SITE.schema)) == (
            200, {"id": SITE.schema_id})
        status, body = await r.send("POST", "/subjects/platform.acme.sites-value/versions", schema_body(new))
        assert (status, body["error_code"]) == (422, 42205)
        assert body["message"].startswith("registering a new schema") and "code review" in body["message"]
        status, body = await r.send("POST", "/subjects/brand.new.topic-value/versions", schema_body(new))
        assert (status, body["error_code"]) == (422, 42205)
        for method, path, payload in [("PUT", "/config", {"compatibility": "NONE"}),
                                      ("PUT", "/config/platform.acme.sites-value", {"compatibility": "NONE"}),
                                      ("DELETE", "/subjects/platform.acme.sites-value", None),
                                      ("DELETE", "/subjects/platform.acme.sites-value/versions/1", None),
                                      ("PUT", "/mode", {"mode": "READWRITE"})]:
            status, body = await r.send(method, path, payload)
            assert (status, body["error_code"]) == (422, 42205), (method, path)


async def test_compatibility_uses_the_catalog_gate():
    compatible = copy.deepcopy(INCIDENT.schema)
    compatible["fields"].append({"name": "witnesses", "type": ["null", "int"], "default": None})
    incompatible = copy.deepcopy(INCIDENT.schema)
    incompatible["fields"].append({"name": "witnesses", "type": "int"})  # no default: cannot read v1 data
    async with registry() as r:
        path = "/compatibility/subjects/platform.acme.incidents-value/versions/latest"
        assert await r.send("POST", path, schema_body(compatible)) == (200, {"is_compatible": True, "messages": []})
        status, body = await r.send("POST", path, schema_body(incompatible))
        assert status == 200 and body["is_compatible"] is False
        assert any("witnesses" in m for m in body["messages"])
        status, body = await r.send("POST", "/compatibility/subjects/platform.acme.incidents-value/versions/1",
                                    schema_body(incompatible))
        assert body["is_compatible"] is False and body["messages"]
        status, body = await r.send("POST", "/compatibility/subjects/platform.acme.incidents-value/versions",
                                    schema_body(compatible))
        assert body["is_compatible"] is True
        status, body = await r.send("POST", "/compatibility/subjects/nope-value/versions/latest",
                                    schema_body(compatible))
        assert (status, body["error_code"]) == (404, 40401)
        status, body = await r.send("POST", path, {"schema": "[not a schema"})
        assert (status, body["error_code"]) == (422, 42201)


async def test_config_mode_contexts_and_root():
    async with registry() as r:
        assert await r.get("/config") == (200, {"compatibilityLevel": "BACKWARD_TRANSITIVE"})
        assert await r.get("/config/platform.acme.sites-value") == (200, {"compatibilityLevel": "BACKWARD_TRANSITIVE"})
        assert (await r.get("/config/nope-value"))[1]["error_code"] == 40401
        assert await r.get("/mode") == (200, {"mode": "READONLY"})
        assert await r.get("/contexts") == (200, ["."])
        assert await r.get("/") == (200, {})


async def test_associations_answer_404_so_clients_fall_back_to_topic_names():
    async with registry() as r:
        status, body = await r.get("/associations/resources/-/platform.acme.sites",
                                   params={"resourceType": "topic", "associationType": "value"})
    assert status == 404 and body["error_code"] == 404


async def test_unknown_endpoint_and_method_are_confluent_errors():
    async with registry() as r:
        assert await r.get("/nope") == (404, {"error_code": 404, "message": "HTTP 404 Not Found"})
        status, body = await r.send("PATCH", "/subjects")
        assert status == 405 and body["error_code"] == 405


async def test_kafka_topic_lister_fails_fast_and_caches_failures():
    import time

    from connectors.registry import KafkaTopicLister
    from tests.support.kafka_io import free_port

    lister = KafkaTopicLister({"bootstrap_servers": f"127.0.0.1:{free_port()}"}, ttl_s=60, timeout_s=2)
    with pytest.raises(Exception):
        await lister()
    started = time.monotonic()
    with pytest.raises(ConnectionError):
        await lister()  # within ttl: no new connection attempt
    assert time.monotonic() - started < 0.5
