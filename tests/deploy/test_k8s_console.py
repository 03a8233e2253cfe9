"""deploy/k8s: the office console (issue #18) and the units' tokens (issue #16) are deployed.

The console, the gateway and the worker read ``GIGBRIDGE_CASE_UNIT_TOKENS`` from one Secret; the
console's session key comes from its own Secret, its cookie is Secure behind an HTTPS Ingress,
and its network policies admit the ingress controller and let it reach only Kafka and DNS.
Rendered by kustomize like the rest of tests/deploy/test_k8s.py (schemas and checkov run there).
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from connectors.console.app import PREFIX, session_key
from connectors.console.settings import ConsoleSettings
from streams.loaders.cases import load_units
from tests.deploy.test_k8s import OVERLAYS, _by_kind, _one, rendered

pytestmark = pytest.mark.timeout(900)

UNIT_TOKENS = "GIGBRIDGE_CASE_UNIT_TOKENS"


def _container(workload: dict) -> dict:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def _secret_refs(container: dict) -> dict[str, tuple[str, str]]:
    """Environment variable -> (Secret, key) of every variable taken from a Secret."""
    return {e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}


def _values(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_console_gateway_and_worker_share_the_unit_token_secret(overlay):
    docs = rendered(overlay)
    workloads = {"console": _one(docs, "Deployment", "gigbridge-console"),
                 "gateway": _one(docs, "Deployment", "gigbridge-gateway"),
                 "worker": _one(docs, "StatefulSet", "gigbridge-worker")}
    refs = {name: _secret_refs(_container(w)).get(UNIT_TOKENS) for name, w in workloads.items()}
    assert all(refs.values()), f"{UNIT_TOKENS} missing from a workload: {refs}"
    assert len(set(refs.values())) == 1, f"not one Secret: {refs}"
    (secret, key), = set(refs.values())
    assert secret.startswith("gigbridge-unit-tokens") and key == "tokens.json"
    console = _container(workloads["console"])
    assert _secret_refs(console)["GIGBRIDGE_CONSOLE_SESSION_KEY"][0].startswith("gigbridge-console")
    assert _secret_refs(console)["GIGBRIDGE_KAFKA_PASSWORD"] == ("gigbridge-hub", "password")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_console_is_served_over_https_on_its_own_port(overlay):
    docs = rendered(overlay)
    deployment = _one(docs, "Deployment", "gigbridge-console")
    container = _container(deployment)
    env = _values(container)
    settings = ConsoleSettings(**{k.removeprefix("GIGBRIDGE_CONSOLE_").lower(): v for k, v in env.items()
                                  if k.startswith("GIGBRIDGE_CONSOLE_")})
    assert settings.cookie_secure is True and settings.host == "0.0.0.0"
    assert container["args"] == ["python", "-m", "connectors.console"]
    (port,) = container["ports"]
    assert port["containerPort"] == settings.port
    assert {container[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")} == {"/healthz"}
    service = _one(docs, "Service", "gigbridge-console")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    ingress = _one(docs, "Ingress", "gigbridge-console")["spec"]
    (rule,) = ingress["rules"]
    assert ingress["tls"][0]["hosts"] == [rule["host"]] and ingress["tls"][0]["secretName"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == PREFIX and path["backend"]["service"]["name"] == "gigbridge-console"
    assert _one(docs, "PodDisruptionBudget", "gigbridge-console")["spec"]["selector"]["matchLabels"] == \
        {"app.kubernetes.io/name": "gigbridge-console"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_console_network_policies_admit_the_ingress_and_reach_only_kafka(overlay):
    docs = rendered(overlay)
    labels = _one(docs, "Deployment", "gigbridge-console")["spec"]["template"]["metadata"]["labels"]
    policies = [p["spec"] for p in _by_kind(docs, "NetworkPolicy").values()
                if p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
                and not p["spec"]["podSelector"].get("matchExpressions")]
    ingress = [rule for p in policies if "Ingress" in p["policyTypes"] for rule in p.get("ingress", [])]
    assert ingress and all(rule.get("from") for rule in ingress), "the console admits any source"
    assert {port["port"] for rule in ingress for port in rule["ports"]} == {8091}
    egress = [p for p in policies if "Egress" in p["policyTypes"]]
    assert egress, "the console's egress is not restricted"
    allowed = {(port["port"], port["protocol"]) for p in egress for rule in p["egress"] for port in rule["ports"]}
    assert allowed == {(9093, "TCP"), (53, "UDP"), (53, "TCP")}
    kafka = _one(docs, "Kafka", "gigbridge")["spec"]["kafka"]["listeners"][0]
    assert kafka["port"] == 9093
    assert any(peer.get("podSelector", {}).get("matchLabels", {}).items() <= labels.items()
               for peer in kafka["networkPolicyPeers"]), "Kafka's listener does not admit the console"


def test_local_overlay_dev_secrets_are_usable():
    docs = rendered("local")
    secrets = {name.rsplit("-", 1)[0]: s for name, s in _by_kind(docs, "Secret").items()}
    digests = json.loads(base64.b64decode(secrets["gigbridge-unit-tokens"]["data"]["tokens.json"]))
    assert digests and set(digests) <= set(load_units().units)
    assert digests == {unit: hashlib.sha256(f"dev-{unit}-token".encode()).hexdigest() for unit in digests}
    key = base64.b64decode(secrets["gigbridge-console"]["data"]["session-key"]).decode()
    assert len(session_key(key)) == 32
