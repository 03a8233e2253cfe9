"""Pure parts of the gateway: configuration and tokens, the token bucket, the Avro -> JSON
Schema converter and the OpenAPI document, the CLI hook, ``serve``."""

from __future__ import annotations

import argparse
import asyncio
import json
from types import SimpleNamespace

import aiohttp
import jsonschema_rs
import pytest

from connectors.gateway import GatewayConfig, GatewayConfigError, TokenStore, add_cli, hash_token, serve
from connectors.gateway.avro_jsonschema import AvroConversionError, avro_to_json_schema
from connectors.gateway.openapi import REASON_CODES, build_openapi
from connectors.gateway.ratelimit import PlatformLimiter, TokenBucket
from gigbridge.settings import Settings
from schemas.catalog import default_catalog
from schemas.examples import load_examples
from tests.connectors.gateway.helpers import TOKENS, Clock, TYPE_OF, running_gateway
from tests.support.kafka_io import free_port

CATALOG = default_catalog()
DIGEST = hash_token("s3cret")


# --- tokens and configuration --------------------------------------------------------------------

def test_hash_token_is_sha256_hex():
    import hashlib

    assert DIGEST == hashlib.sha256(b"s3cret").hexdigest()


def test_token_store_matches_only_the_right_token():
    store = TokenStore({"swiftdash": DIGEST, "cityride": [hash_token("old"), hash_token("new")]})
    assert store.platform_for("s3cret") == "swiftdash"
    assert store.platform_for("old") == store.platform_for("new") == "cityride"
    assert store.platform_for("s3cret ") is None
    assert store.platform_for("") is None
    assert store.platforms == ("cityride", "swiftdash")


@pytest.mark.parametrize("tokens, fragment", [
    ({"swiftdash": "s3cret"}, "digest"),                                  # a clear token, not its hash
    ({"Swift": DIGEST}, "platform id"),
    ({"swiftdash": []}, "digest"),
    ({"swiftdash": DIGEST, "cityride": DIGEST}, "both"),
])
def test_token_store_refuses_bad_config(tokens, fragment):
    with pytest.raises(GatewayConfigError, match=fragment):
        TokenStore(tokens)


def _settings(env: dict, monkeypatch):
    from gigbridge.settings import Settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_config_from_env_json_and_file(tmp_path, monkeypatch):
    file = tmp_path / "tokens.json"
    file.write_text(json.dumps({"cityride": hash_token("c")}))
    env = {"GIGBRIDGE_GATEWAY_TOKENS": json.dumps({"swiftdash": DIGEST}),
           "GIGBRIDGE_GATEWAY_TOKENS_FILE": str(file),
           "GIGBRIDGE_GATEWAY_MAX_EVENTS": "50", "GIGBRIDGE_GATEWAY_RATE_EVENTS_PER_S": "2.5",
           "GIGBRIDGE_GATEWAY_PORT": "9090", "GIGBRIDGE_GATEWAY_MAX_CONNECTIONS": "64"}
    config = GatewayConfig.from_settings(_settings(env, monkeypatch))
    assert config.max_events == 50 and config.rate_events_per_s == 2.5 and config.port == 9090
    assert config.max_connections == 64
    store = config.token_store()
    assert store.platform_for("s3cret") == "swiftdash" and store.platform_for("c") == "cityride"


def test_overrides_win_over_settings():
    settings = SimpleNamespace(gateway_max_events=7, gateway_rate_burst=7, gateway_tokens=json.dumps({"swiftdash": DIGEST}))
    config = GatewayConfig.from_settings(settings, max_events=5)
    assert config.max_events == 5
    assert config.token_store().platform_for("s3cret") == "swiftdash"


@pytest.mark.parametrize("env, fragment", [
    ({"GIGBRIDGE_GATEWAY_TOKENS": "{not json"}, "not valid JSON"),
    ({"GIGBRIDGE_GATEWAY_TOKENS": "[]"}, "JSON object"),
    ({"GIGBRIDGE_GATEWAY_TOKENS_FILE": "/nonexistent/tokens.json"}, "cannot read"),
    ({"GIGBRIDGE_GATEWAY_RATE_BURST": "10"}, "rate_burst"),
])
def test_bad_config_is_an_error(env, fragment, monkeypatch):
    with pytest.raises(GatewayConfigError, match=fragment):
        GatewayConfig.from_settings(_settings(env, monkeypatch))


def test_unparsable_number_is_a_settings_error(monkeypatch):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="gateway_max_events"):
        _settings({"GIGBRIDGE_GATEWAY_MAX_EVENTS": "many"}, monkeypatch)


# --- token bucket --------------------------------------------------------------------------------

def test_token_bucket_refills_and_never_goes_negative():
    bucket = TokenBucket(rate=10, capacity=20, tokens=20, updated=0.0)
    assert bucket.take(15, 0.0) == 0
    assert bucket.take(10, 0.0) == pytest.approx(0.5)  # 5 left, 5 missing at 10/s
    assert bucket.tokens == 5                            # a refusal takes nothing
    assert bucket.take(10, 0.5) == 0
    assert bucket.take(1, -100.0) > 0                    # clock going backwards refills nothing
    assert bucket.available(1000.0) == 20                # capped at capacity


def test_limiter_rounds_retry_after_up_and_tracks_inflight():
    clock = Clock(0)
    limiter = PlatformLimiter(rate=3, burst=3, max_inflight=2, clock=clock)
    assert limiter.take("a", 3) == 0
    assert limiter.take("a", 1) == 1 and limiter.empty_wait("a") == 1
    assert limiter.take("b", 3) == 0
    assert limiter.enter("a") and limiter.enter("a") and not limiter.enter("a")
    limiter.leave("a")
    assert limiter.enter("a")


# --- Avro -> JSON Schema and OpenAPI -------------------------------------------------------------

def test_converter_basics():
    schema = avro_to_json_schema({
        "type": "record", "name": "R", "namespace": "n", "fields": [
            {"name": "i", "type": "int"},
            {"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}, "doc": "when"},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
            {"name": "e2", "type": "E", "default": "A"},
            {"name": "o", "type": ["null", {"type": "record", "name": "P", "fields": [
                {"name": "x", "type": "double"}]}], "default": None},
            {"name": "a", "type": {"type": "array", "items": "string"}, "default": []},
            {"name": "m", "type": {"type": "map", "values": "long"}},
            {"name": "u", "type": ["null", "string", "int"]},
        ]})
    assert schema["required"] == ["i", "t", "e", "m", "u"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["i"] == {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
    assert props["t"]["description"] == "when (UTC epoch milliseconds)"
    assert props["e2"]["enum"] == ["A", "B"] and props["e2"]["default"] == "A"
    assert props["o"]["anyOf"][0] == {"type": "null"} and props["o"]["anyOf"][1]["required"] == ["x"]
    assert props["m"]["additionalProperties"]["type"] == "integer"
    assert len(props["u"]["anyOf"]) == 3


def test_converter_refuses_recursive_and_unknown_types():
    with pytest.raises(AvroConversionError):
        avro_to_json_schema({"type": "record", "name": "L", "fields": [{"name": "next", "type": ["null", "L"]}]})
    with pytest.raises(AvroConversionError):
        avro_to_json_schema({"type": "record", "name": "X", "fields": [{"name": "y", "type": "Nope"}]})


def _validator(doc: dict, name: str):
    return jsonschema_rs.Draft202012Validator({**doc["components"]["schemas"][name], "components": doc["components"]})


@pytest.mark.parametrize("example", [e for e in load_examples() if e.contract in TYPE_OF], ids=lambda e: e.id)
def test_openapi_event_schemas_match_the_examples(example):
    """Valid examples fit the documented body schema; schema_violation examples do not (other
    invalid examples are structurally fine and only break hub rules)."""
    doc = build_openapi(CATALOG, GatewayConfig())
    name = CATALOG.contract(example.contract).full_name.rsplit(".", 1)[-1]
    validator = _validator(doc, name)
    fits = validator.is_valid(example.payload)
    assert fits == (example.kind == "valid" or example.reason != "schema_violation")


def test_openapi_document_covers_the_api():
    doc = build_openapi(CATALOG, GatewayConfig(max_events=123))
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    for event_type in ("sites", "headcounts", "incidents"):
        op = paths[f"/v1/events/{event_type}"]["post"]
        assert set(op["responses"]) == {"200", "207", "400", "401", "403", "408", "413", "415", "429", "503"}
        assert op["requestBody"]["content"]["application/json"]["schema"]["maxItems"] == 123
        assert "application/x-ndjson" in op["requestBody"]["content"]
        assert "Retry-After" in op["responses"]["429"]["headers"]
        assert "WWW-Authenticate" in op["responses"]["401"]["headers"]
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/registry/subjects",
                 "/registry/subjects/{subject}/versions/{version}", "/registry/schemas/ids/{id}",
                 "/registry/compatibility/subjects/{subject}/versions/{version}", "/registry/config"):
        assert path in paths, path
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    # every reason an event the gateway accepts can get is documented (the cover contracts of
    # docs/cover.md join TYPE_OF, and this check, when the gateway ingests them)
    reasons = {e.reason for e in load_examples(kind="invalid") if e.contract in TYPE_OF}
    assert reasons <= set(REASON_CODES)


async def test_openapi_json_is_served():
    async with running_gateway() as gw:
        resp = await gw.session.get(f"{gw.url}/openapi.json")
        doc = await resp.json()
    assert resp.status == 200 and doc["openapi"] == "3.1.0"
    assert doc["components"]["schemas"]["SiteEvent"]["properties"]["facilities"]["default"] == []


# --- CLI hook and serve --------------------------------------------------------------------------

def test_add_cli_registers_ingest():
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["ingest", "--host", "0.0.0.0", "--port", "9999"])
    assert (args.command, args.host, args.port) == ("ingest", "0.0.0.0", 9999)
    assert parser.parse_args(["ingest"]).port is None


def test_ingest_without_tokens_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv("GIGBRIDGE_GATEWAY_TOKENS", raising=False)
    monkeypatch.delenv("GIGBRIDGE_GATEWAY_TOKENS_FILE", raising=False)
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["ingest"])
    assert args.func(SimpleNamespace(), args) == 2
    assert "no platform tokens" in capsys.readouterr().err


async def test_serve_answers_until_cancelled():
    port = free_port()
    settings = Settings(_env_file=None, kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_security_protocol="PLAINTEXT")
    config = GatewayConfig(tokens={p: hash_token(t) for p, t in TOKENS.items()})
    started = asyncio.Event()
    task = asyncio.create_task(serve(settings, "127.0.0.1", port, config=config, started=started))
    await asyncio.wait_for(started.wait(), 10)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200
        async with session.post(f"http://127.0.0.1:{port}/v1/events/sites", data="[]",
                                headers={"Authorization": f"Bearer {TOKENS['swiftdash']}",
                                         "Content-Type": "application/json"}) as resp:
            assert resp.status == 400
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
