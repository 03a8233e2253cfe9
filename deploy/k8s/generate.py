"""Write the generated files of ``deploy/k8s/base`` from their single sources.

    python -m deploy.k8s.generate          # rewrite them
    python -m deploy.k8s.generate --check  # exit 1 if any differs (tests/deploy/test_k8s.py does this)

* ``kafka/kafka-users.yaml``: ``KafkaUser``s from ``deploy/access.yaml`` (gigbridge.access_strimzi,
  the same as ``gigbridge access export --format strimzi``).
* ``kafka/kafka-topics.yaml``: ``KafkaTopic``s for the topics the hub needs before traffic (hub
  outputs, every declared platform's, insurer's and unit's topics, the notices, the algorithm-change
  feeds, the dedupe logs), each with its family's configs from gigbridge.topic_policy;
  partitions and replicas are the base ConfigMap's ``GIGBRIDGE_TOPIC_PARTITIONS`` /
  ``GIGBRIDGE_TOPIC_REPLICATION_FACTOR``.
* ``monitoring/prometheus-rule.yaml``: ``deploy/prometheus/rules/gigbridge.yml`` as a ``PrometheusRule``.
* ``monitoring/grafana-dashboards.yaml``: ``deploy/grafana/dashboards/*.json`` as a ConfigMap for
  Grafana's dashboard sidecar (label ``grafana_dashboard``).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from gigbridge import access as names  # the topic-name parts of the access model
from gigbridge.access import AccessFile, load_access
from gigbridge.access_strimzi import CLUSTER_LABEL, DEFAULT_CLUSTER, export_yaml
from gigbridge.settings import Settings
from gigbridge.topic_policy import topic_configs
from streams.runtime.dedupe.log import log_topic
from streams.core.route import insurance_topic, new_topic_partitions
from streams.core.topics import DLQ_TOPIC, ingest_topic, rejected_topic, validated_topics
from streams.core.validate import EVENT_TYPES

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE = REPO_ROOT / "deploy" / "k8s" / "base"
HUB_CONFIG = BASE / "hub" / "config.yaml"
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "gigbridge.yml"
DASHBOARDS = REPO_ROOT / "deploy" / "grafana" / "dashboards"
PART_OF = {"app.kubernetes.io/part-of": "gigbridge"}


class _Literal(str):
    """A multi-line string written as a YAML block scalar (readable dashboards and rules)."""


yaml.SafeDumper.add_representer(_Literal, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|"))


def _header(source: str) -> str:
    return (f"# Generated from {source} by `python -m deploy.k8s.generate`; do not edit.\n"
            "# tests/deploy/test_k8s.py fails when this file and a fresh generation differ.\n")


def hub_config() -> dict[str, str]:
    """The base ConfigMap's GIGBRIDGE_* settings."""
    docs = [d for d in yaml.safe_load_all(HUB_CONFIG.read_text()) if d and d["kind"] == "ConfigMap"]
    return docs[0]["data"]


def settings_of(config: dict[str, str]) -> Settings:
    """Settings as a pod with ``config`` in its environment sees them (no env file, no env)."""
    fields = {name.removeprefix("GIGBRIDGE_").lower(): value for name, value in config.items()}
    return Settings.model_validate({k: v for k, v in fields.items() if k in Settings.model_fields})


#: Hub topics of the injury-cover and concern-case flows (contracts in schemas/catalog.yaml).
HUB_FLOW_TOPICS = ("hub.validated.claim-status", "hub.validated.cases", "hub.validated.case-events",
                   "hub.validated.incident-acks",
                   "hub.cases.state", "hub.cover.incidents", "hub.claim-status.gateway",
                   "hub.units.gateway")
#: The algorithm-rule change feeds: the regulator's and the public register.
FEED_TOPICS = (f"{names.REGULATOR_PREFIX}algorithm-changes", f"{names.PUBLIC_PREFIX}algorithm-register")


def provisioned_topics(access: AccessFile) -> list[str]:
    """Topics created ahead of traffic, in a fixed order: every topic a declared partner writes or
    reads (so its clients never wait for the hub's first record), and the hub's own outputs."""
    topics = [*validated_topics(), DLQ_TOPIC, *HUB_FLOW_TOPICS]
    for platform in access.platforms:
        ingest = [ingest_topic(platform.id, t) for t in EVENT_TYPES]
        topics += [*ingest, rejected_topic(platform.id), *(log_topic(access.hub.app_id, t) for t in ingest)]
        topics += [f"platform.{platform.id}.{t}" for t in (*names.PLATFORM_WRITES, *names.PLATFORM_READS)]
    for province in dict.fromkeys(i.province for i in access.insurers):
        topics += [insurance_topic(province, s) for s in (*names.INSURANCE_TYPES, names.CLAIM_STATUS)]
    for unit in access.units:
        topics += [f"gov.units.{unit.id}.{t}" for t in (*names.UNIT_WRITES, *names.UNIT_READS)]
    if access.platforms:
        topics += [names.notice_topic(province) for province in names.PROVINCE_CODES]
    # platform.<id>.orders is both an ingest topic and a platform-written one: listed once
    return list(dict.fromkeys(topics + list(FEED_TOPICS)))


DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def kafka_topics(access: AccessFile, settings: Settings, cluster: str = DEFAULT_CLUSTER) -> list[dict]:
    """A topic whose name is not a Kubernetes object name (an app id with ``_`` or capitals) gets
    a lower-cased, ``_``-free resource name and its real name in ``spec.topicName``."""
    window_ms = int(settings.dedupe_window_s * 1000)
    topics = []
    for topic in provisioned_topics(access):
        spec = {"partitions": new_topic_partitions(topic, settings.topic_partitions, settings.office_topic_partitions),
                "replicas": settings.topic_replication_factor, "config": topic_configs(topic, window_ms)}
        name = topic
        if not DNS_SUBDOMAIN.fullmatch(topic):
            name, spec = re.sub(r"[^a-z0-9.-]", "-", topic.lower()).strip("-."), {"topicName": topic, **spec}
        topics.append({"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
                       "metadata": {"name": name, "labels": {CLUSTER_LABEL: cluster, **PART_OF}}, "spec": spec})
    return topics


def prometheus_rule() -> dict:
    rules = yaml.safe_load(RULES.read_text())
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "gigbridge", "labels": PART_OF},
            "spec": {"groups": _literals(rules["groups"])}}


def _literals(value):
    if isinstance(value, dict):
        return {k: _literals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literals(v) for v in value]
    return _Literal(value) if isinstance(value, str) and "\n" in value else value


def dashboards_config_map() -> dict:
    files = sorted(DASHBOARDS.glob("*.json"))
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "gigbridge-dashboards", "labels": {"grafana_dashboard": "1", **PART_OF}},
            "data": {f.name: _Literal(f.read_text()) for f in files}}


def _dump(source: str, docs: list[dict]) -> str:
    return _header(source) + yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True, width=120)


def generated_files() -> dict[Path, Callable[[], str]]:
    """Each generated file and how to make its content (made only when called)."""
    access = lambda: load_access()  # noqa: E731 - read when a file is made, not at import
    return {
        BASE / "kafka" / "kafka-users.yaml": lambda: export_yaml(access()),
        BASE / "kafka" / "kafka-topics.yaml": lambda: _dump(
            "deploy/access.yaml, gigbridge/topic_policy.py and hub/config.yaml",
            kafka_topics(access(), settings_of(hub_config()))),
        BASE / "monitoring" / "prometheus-rule.yaml": lambda: _dump(
            "deploy/prometheus/rules/gigbridge.yml", [prometheus_rule()]),
        BASE / "monitoring" / "grafana-dashboards.yaml": lambda: _dump(
            "deploy/grafana/dashboards/*.json", [dashboards_config_map()]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.k8s.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, make in generated_files().items():
        text = make()
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path.relative_to(REPO_ROOT))
        if not args.check:
            path.write_text(text)
    verb = "out of date" if args.check else "written"
    for path in stale:
        print(f"{verb}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
