"""The registry endpoints of ``/openapi.json`` against the gateway-mounted registry
(schemathesis, bounded: 30 examples per operation): documented statuses, bodies and headers.

Not run: ``positive_data_acceptance`` -- writes are refused by design (422, error_code 42205)
and a ``schema`` string is only acceptable if it parses as Avro, which the JSON Schema of the
body cannot express (422, 42201). Every answer is still checked against the document (status,
content type, headers, body schema), and schema-violating requests must be refused."""

from __future__ import annotations

# Imported here, before any test starts a server thread: schemathesis imports this check lazily,
# under pytest's assertion rewriting, and CPython 3.11 compiling in one thread while another thread
# runs can fail with "SystemError: AST constructor recursion depth mismatch" (seen in CI).
import schemathesis.specs.openapi.object_authorization  # noqa: F401

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from prometheus_client import CollectorRegistry

from connectors.gateway import GatewayConfig, TokenStore, create_gateway_app
from connectors.gateway.openapi import build_openapi
from schemas.catalog import default_catalog
from tests.connectors.gateway.helpers import TOKENS, ServerThread, dead_producer

CONFIG = GatewayConfig()
schema = schemathesis.openapi.from_dict(build_openapi(default_catalog(), CONFIG))


@pytest.fixture(scope="module")
def gateway_url():
    async def lister():
        return ["platform.swiftdash.sites", "platform.swiftdash.rejected"]

    def factory():
        return create_gateway_app(None, producer=dead_producer(), tokens=TokenStore.from_tokens(TOKENS),
                                  config=CONFIG, registry=CollectorRegistry(), topic_lister=lister)

    with ServerThread(factory) as server:
        yield server.url


@schema.include(tag="registry").parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_registry_conforms_to_openapi(case, gateway_url):
    case.call_and_validate(base_url=gateway_url, timeout=10,
                           excluded_checks=[schemathesis.checks.positive_data_acceptance])
