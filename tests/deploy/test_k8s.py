"""deploy/k8s renders, every object is valid, the generated files are current, and the security lint is clean.

Offline: kustomize (built from the Go module proxy by ``make .local/bin/kustomize``) renders both
overlays; core objects are checked against the Kubernetes schemas (``kubernetes-validate``),
Strimzi, KEDA and Prometheus Operator resources against their own CRD schemas (vendored in
tests/deploy/strimzi-crds and tests/deploy/k8s-crds, see the LICENCE notes there), strictly: an
unknown field is an error, as with ``kubectl apply --validate=strict``. checkov (its own venv,
``make .local/checkov/bin/checkov``) lints the rendered objects; every exception is a
``checkov.io/skipN`` annotation with its reason.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from connectors.console.settings import ConsoleSettings
from deploy.k8s import generate
from gigbridge.access import desired_acls, load_access
from gigbridge.access_strimzi import acls_of_users, export_yaml, kafka_users
from gigbridge.settings import REPO_ROOT, Settings
from gigbridge.topic_policy import topic_configs

K8S = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = ("local", "production")
KUBERNETES_VERSION = "1.33.0"
CRD_DIRS = (REPO_ROOT / "tests" / "deploy" / "strimzi-crds", REPO_ROOT / "tests" / "deploy" / "k8s-crds")
#: Made outside the manifests: by Strimzi (the hub's SCRAM password, the cluster CA) or, in
#: production, by the operator from the secret store (docs/operations.md).
EXTERNAL_SECRETS = {"gigbridge-hub", "gigbridge-cluster-ca-cert"}
PRODUCTION_SECRETS = {"gigbridge-hub-secrets", "gigbridge-gateway-tokens", "gigbridge-unit-tokens", "gigbridge-console"}


# `make test` installs both tools first (target k8s-tools); run alone, the first test installs them.
pytestmark = pytest.mark.timeout(900)


def _make(target: str) -> Path:
    path = REPO_ROOT / target
    if not path.exists():
        if target.endswith("kustomize") and shutil.which("go") is None:
            pytest.skip("Go is not installed: cannot build kustomize from the Go module proxy")
        subprocess.run(["make", "-s", target], cwd=REPO_ROOT, check=True, timeout=900)
    return path


@cache
def rendered(overlay: str) -> tuple[dict, ...]:
    kustomize = _make(".local/bin/kustomize")
    out = subprocess.run([str(kustomize), "build", str(K8S / "overlays" / overlay)],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def _by_kind(docs, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _one(docs, kind: str, name: str) -> dict:
    return _by_kind(docs, kind)[name]


def _strict(schema):
    """``schema`` with ``additionalProperties: false`` on every object that lists its properties
    and does not preserve unknown fields (the API server prunes or, strictly, rejects those)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out \
            and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], dict]:
    """``(apiVersion, kind)`` -> strict JSON schema of every served version of the vendored CRDs."""
    schemas = {}
    for path in sorted(p for d in CRD_DIRS for p in d.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schema = _strict(version["schema"]["openAPIV3Schema"])
                schema["properties"]["metadata"] = {"type": "object"}  # ObjectMeta: checked by the API server
                schemas[(f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])] = schema
    return schemas


def custom_resource_errors(doc: dict) -> list[str]:
    schema = crd_schemas()[(doc["apiVersion"], doc["kind"])]
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_is_valid(overlay):
    docs = rendered(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "StatefulSet", "Deployment", "Service",
            "PodDisruptionBudget", "HorizontalPodAutoscaler", "ScaledObject", "TriggerAuthentication",
            "NetworkPolicy", "PodMonitor", "PrometheusRule", "ConfigMap", "ServiceAccount", "Ingress"} <= kinds
    problems = []
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert doc["metadata"].get("namespace"), f"{where} has no namespace"
        assert generate.DNS_SUBDOMAIN.fullmatch(doc["metadata"]["name"]), f"{where}: not an object name"
        if (doc["apiVersion"], doc["kind"]) in crd_schemas():
            problems += [f"{where}: {e}" for e in custom_resource_errors(doc)]
        else:
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{where}: {exc.message}")
    assert not problems, "\n".join(problems)


def test_a_topic_name_that_is_no_object_name_goes_to_topic_name():
    access = load_access().model_copy(update={"hub": load_access().hub.model_copy(update={"app_id": "Hub_1"})})
    topics = generate.kafka_topics(access, generate.settings_of(generate.hub_config()))
    odd = [t for t in topics if "topicName" in t["spec"]]
    assert odd and all(t["spec"]["topicName"].startswith("Hub_1-dedupe.") for t in odd)
    assert all(generate.DNS_SUBDOMAIN.fullmatch(t["metadata"]["name"]) for t in topics)
    assert all(not custom_resource_errors({**t, "metadata": {"name": t["metadata"]["name"]}}) for t in topics)


def test_the_custom_resource_check_is_strict():
    kafka = copy.deepcopy(_one(rendered("production"), "Kafka", "gigbridge"))
    kafka["spec"]["kafka"]["listners"] = kafka["spec"]["kafka"].pop("listeners")
    errors = custom_resource_errors(kafka)
    assert any("listners" in e for e in errors) and any("listeners" in e for e in errors), errors
    user = copy.deepcopy(_one(rendered("production"), "KafkaUser", "gigbridge-hub"))
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Reed"]
    assert custom_resource_errors(user)


def test_generated_files_are_current():
    stale = [str(p.relative_to(REPO_ROOT)) for p, make in generate.generated_files().items()
             if not p.exists() or p.read_text() != make()]
    assert not stale, f"run `python -m deploy.k8s.generate`: {stale} differ from their sources"


def test_access_export_cli_prints_the_committed_kafka_users(capsys):
    from gigbridge.access_cli import main

    assert main(["access", "export", "--format", "strimzi"]) == 0
    assert capsys.readouterr().out == (K8S / "base" / "kafka" / "kafka-users.yaml").read_text()
    assert main(["access", "export", "--file", str(K8S / "no-such-file.yaml")]) == 2
    assert "cannot read access file" in capsys.readouterr().err


def test_kafka_users_grant_exactly_what_access_apply_would():
    access = load_access()
    users = kafka_users(access)
    assert acls_of_users(users) == desired_acls(access)
    declared = [name for _, name in access.users()]
    assert [u["metadata"]["name"] for u in users] == declared + list(access.super_users)
    assert all(u["spec"]["authentication"] == {"type": "scram-sha-512"} for u in users)
    assert list(yaml.safe_load_all(export_yaml(access))) == users
    assert {u["metadata"]["labels"]["strimzi.io/cluster"] for u in users} == {"gigbridge"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_cluster_shape(overlay):
    docs = rendered(overlay)
    kafka, pool = _one(docs, "Kafka", "gigbridge"), _one(docs, "KafkaNodePool", "combined")
    config = kafka["spec"]["kafka"]["config"]
    assert kafka["spec"]["kafka"]["authorization"]["superUsers"] == list(load_access().super_users)
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}  # KRaft, no ZooKeeper
    assert all(lst["tls"] and lst["authentication"]["type"] == "scram-sha-512"
               for lst in kafka["spec"]["kafka"]["listeners"])
    assert config["allow.everyone.if.no.acl.found"] is False
    if overlay == "production":
        assert pool["spec"]["replicas"] == 3
        assert (config["default.replication.factor"], config["min.insync.replicas"]) == (3, 2)
    replicas = pool["spec"]["replicas"]
    assert config["min.insync.replicas"] <= config["default.replication.factor"] <= replicas


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topics_match_the_policy_and_the_worker_settings(overlay):
    docs = rendered(overlay)
    env = _one(docs, "ConfigMap", "gigbridge-hub")["data"]
    settings = generate.settings_of(env)
    nodes = _one(docs, "KafkaNodePool", "combined")["spec"]["replicas"]
    topics = {t["spec"].get("topicName", name): t for name, t in _by_kind(docs, "KafkaTopic").items()}
    assert set(topics) == set(generate.provisioned_topics(load_access()))
    for name, topic in topics.items():
        assert topic["spec"]["config"] == topic_configs(name, int(settings.dedupe_window_s * 1000)), name
        assert topic["spec"]["replicas"] == settings.topic_replication_factor <= nodes, name
        assert topic["spec"]["partitions"] == settings.topic_partitions, name
    scaled = _one(docs, "ScaledObject", "gigbridge-worker")["spec"]
    assert scaled["maxReplicaCount"] <= settings.topic_partitions  # a replica more would idle
    assert scaled["triggers"][0]["metadata"]["consumerGroup"] == settings.app_id == load_access().hub.app_id


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workloads_are_wired_and_hardened(overlay):
    docs = rendered(overlay)
    services = _by_kind(docs, "Service")
    sts = _one(docs, "StatefulSet", "gigbridge-worker")
    headless = services[sts["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    made_here = set(_by_kind(docs, "Secret")) | (PRODUCTION_SECRETS if overlay == "production" else set())
    config_maps = set(_by_kind(docs, "ConfigMap"))
    workloads = [sts, *_by_kind(docs, "Deployment").values()]
    pdbs = _by_kind(docs, "PodDisruptionBudget").values()
    for workload in workloads:
        name, pod = workload["metadata"]["name"], workload["spec"]["template"]
        labels = pod["metadata"]["labels"]
        assert any(all(labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())
                   for p in pdbs), f"{name} has no disruption budget"
        assert any(s["spec"]["selector"].items() <= labels.items() for s in services.values()), name
        security = pod["spec"]["securityContext"]
        assert security["runAsNonRoot"] and security["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["spec"]["automountServiceAccountToken"] is False
        for container in pod["spec"]["containers"]:
            assert {"startupProbe", "livenessProbe", "readinessProbe", "resources"} <= set(container), name
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            for ref in [e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e] + \
                    [e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", []) if "valueFrom" in e]:
                assert ref in made_here | EXTERNAL_SECRETS, f"{name}: unknown Secret {ref}"
            for ref in [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]:
                assert ref in config_maps, f"{name}: unknown ConfigMap {ref}"
        for volume in pod["spec"].get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in made_here | EXTERNAL_SECRETS, name
    assert sts["spec"]["template"]["spec"]["securityContext"]["fsGroup"]


def _gigbridge_vars(node) -> set[str]:
    if isinstance(node, dict):
        own = {k for k in node if isinstance(k, str) and k.startswith("GIGBRIDGE_")}
        own |= {v for k, v in node.items() if k == "name" and isinstance(v, str) and v.startswith("GIGBRIDGE_")}
        return own.union(*(_gigbridge_vars(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_gigbridge_vars(v) for v in node))
    return set()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_use_only_settings_the_hub_knows(overlay):
    known = {f"GIGBRIDGE_{name.upper()}" for name in Settings.model_fields}
    known |= {f"GIGBRIDGE_CONSOLE_{name.upper()}" for name in ConsoleSettings.model_fields}
    used = _gigbridge_vars(list(rendered(overlay)))
    assert "GIGBRIDGE_KAFKA_PASSWORD" in used and "GIGBRIDGE_KAFKA_BOOTSTRAP" in used
    unknown = used - known
    assert not unknown, f"unknown settings in deploy/k8s ({overlay}): {sorted(unknown)}"


def test_prometheus_rule_job_matches_the_pod_monitor():
    docs = rendered("production")
    monitor = _one(docs, "PodMonitor", "gigbridge")["spec"]
    worker_labels = _one(docs, "StatefulSet", "gigbridge-worker")["spec"]["template"]["metadata"]["labels"]
    assert worker_labels[monitor["jobLabel"]] == "gigbridge-worker"  # the rules select job="gigbridge-worker"
    rule = _one(docs, "PrometheusRule", "gigbridge")
    assert rule["spec"]["groups"] == yaml.safe_load(generate.RULES.read_text())["groups"]
    dashboards = _one(docs, "ConfigMap", "gigbridge-dashboards")["data"]
    assert {name: json.loads(text) for name, text in dashboards.items()} == \
        {p.name: json.loads(p.read_text()) for p in generate.DASHBOARDS.glob("*.json")}


def test_security_lint_has_no_unexplained_finding(tmp_path):
    checkov = _make(".local/checkov/bin/checkov")
    for overlay in OVERLAYS:
        (tmp_path / f"{overlay}.yaml").write_text(yaml.safe_dump_all(rendered(overlay)))
    run = subprocess.run([str(checkov), "-d", str(tmp_path), "--framework", "kubernetes", "-o", "json",
                          "--quiet", "--compact", "--skip-download"],
                         capture_output=True, text=True, timeout=300)
    reports = json.loads(run.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}"
              for r in reports for c in r["results"]["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert sum(r["summary"]["passed"] for r in reports) > 100
    skipped = [c for r in reports for c in r["results"].get("skipped_checks", [])]
    assert all(len(c.get("check_result", {}).get("suppress_comment", "")) > 20 for c in skipped), skipped
