"""Retention per topic family (gigbridge/topic_policy.py) and every place that creates topics with it."""

from __future__ import annotations

import uuid

import pytest

from gigbridge.settings import Settings
from gigbridge.topic_policy import AUDIT_PERIOD_MS, DAY_MS, FAMILIES, family_of, topic_configs
from gigbridge.topics_admin import TopicAdmin
from streams.runtime.dedupe.log import log_topic, log_topic_configs
from streams.runtime.delivery import sink_routes
from streams.core.route import insurance_topic, office_topic
from streams.core.topics import DLQ_TOPIC, ingest_topic, rejected_topic, validated_topic
from tests.support.kafka_io import hub_settings

WINDOW_MS = 24 * 3600 * 1000

# Every topic the hub and its platforms use, by the family it must fall in.
EXPECTED = {
    ingest_topic("swiftmeal", "sites"): "ingest",
    ingest_topic("city-run2", "incidents"): "ingest",
    rejected_topic("swiftmeal"): "rejected",
    office_topic("310101", "headcounts"): "office",
    office_topic("310101002", "incidents"): "office",
    insurance_topic("44"): "insurer-incidents",
    insurance_topic("44", "receipts"): "receipts",
    insurance_topic("44", "dlq"): "receipts",
    "gov.office.310101.receipts": "receipts",
    validated_topic("incidents"): "audit",
    DLQ_TOPIC: "dlq",
    log_topic("gigbridge-hub", ingest_topic("swiftmeal", "sites")): "dedupe-log",
    "gigbridge-hub-__assignor-__leader": "state",
    # injury cover, concern cases, notices (contracts only; not wired to Kafka yet)
    "platform.swiftmeal.orders": "platform-inbound",
    "platform.swiftmeal.case-events": "platform-inbound",
    "platform.swiftmeal.algorithm-changes": "platform-inbound",
    "platform.swiftmeal.claims": "platform-cover",
    "platform.swiftmeal.cover-gaps": "platform-cover",
    "platform.swiftmeal.cover-links": "platform-cover",
    "gov.insurance.44.cover-links": "insurance-audit",
    "platform.swiftmeal.case-rejections": "platform-case-feedback",
    "gov.insurance.44.claim-status": "insurance-audit",
    "gov.insurance.44.claim-rejections": "insurer-feedback",
    "gov.insurance.44.cover": "insurance-audit",
    "gov.units.110105-hrss.case-events": "unit",
    "gov.units.110105001-gov.case-updates": "unit",
    "gov.office.310101.cases": "office",
    "gov.notices.44": "notices",
    "gov.notices.44.status": "notices",
    "gov.regulator.algorithm-changes": "algorithm-changes",
    "public.algorithm-register": "algorithm-changes",
    "hub.validated.claim-status": "audit",
    "hub.claim-status.gateway": "insurer-http-claims",
    "hub.units.gateway": "unit-http",
    "hub.validated.case-events": "audit",
    "hub.cases.state": "case-state",
    "hub.cover.incidents": "cover-input",
}

#: A value per placeholder of schemas/catalog.yaml's topic patterns.
PLACEHOLDERS = {"platform": "swiftmeal", "division": "310101", "province": "44", "unit": "110105-hrss"}


def catalog_topics() -> list[str]:
    """Every topic of the contract catalog, its placeholders filled in (the dedupe log's
    ``{app}-dedupe`` is only a prefix and has its own test)."""
    from schemas.catalog import default_catalog

    patterns = {t for c in default_catalog().contracts for t in c.topics if "{app}" not in t}
    return sorted(t.format(**PLACEHOLDERS) for t in patterns)


@pytest.mark.parametrize("topic, family", EXPECTED.items())
def test_every_hub_topic_has_its_family(topic, family):
    assert family_of(topic).name == family


def test_every_catalog_topic_has_a_family():
    topics = catalog_topics()
    assert "hub.cases.state" in topics and "gov.units.110105-hrss.incident-acks" in topics
    assert {t: None for t in topics if family_of(t) is None} == {}
    for topic in topics:
        assert sum(f.matches(topic) for f in FAMILIES) == 1, topic


def test_cover_case_and_notice_retention():
    def configs(topic: str) -> dict[str, str]:
        return topic_configs(topic, WINDOW_MS)

    assert configs("hub.cases.state") == {"cleanup.policy": "compact"}
    for topic in ("gov.notices.44", "gov.notices.44.status", "platform.swiftmeal.statements",
                  "platform.swiftmeal.claims", "gov.insurance.44.statements", "gov.insurance.44.claim-status"):
        assert configs(topic) == {"cleanup.policy": "delete", "retention.ms": str(AUDIT_PERIOD_MS)}, topic
    assert configs("platform.swiftmeal.orders") == configs(ingest_topic("swiftmeal", "sites"))
    assert configs("hub.cover.incidents") == configs(ingest_topic("swiftmeal", "sites"))  # replayable like ingest
    assert configs("gov.units.110105-hrss.case-updates") == configs(office_topic("310101", "sites"))
    # look-alikes stay unmatched
    for topic in ("gov.notices.440", "public.algorithm-changes", "gov.units.X.case-events", "hub.cases.other",
                  "hub.cover.incidents.x"):
        assert family_of(topic) is None, topic


def test_families_are_disjoint_and_sound():
    for topic in EXPECTED:
        assert sum(f.matches(topic) for f in FAMILIES) == 1, topic
    assert family_of("platform.swiftmeal.unknown") is None and topic_configs("other", WINDOW_MS) == {}
    for fam in FAMILIES:
        configs = fam.configs(WINDOW_MS)
        assert configs["cleanup.policy"] in ("delete", "compact")
        if configs["cleanup.policy"] == "delete":
            assert int(configs["retention.ms"]) >= DAY_MS, fam.name


def test_retention_meets_its_reasons():
    def retention(topic: str) -> int:
        return int(topic_configs(topic, WINDOW_MS)["retention.ms"])

    holiday_week = 10 * DAY_MS  # 7-8 holiday days and the weekends around them
    assert retention(office_topic("310101", "sites")) > holiday_week
    assert retention(insurance_topic("44")) > holiday_week
    assert retention(validated_topic("sites")) == retention(insurance_topic("44", "receipts")) == AUDIT_PERIOD_MS
    assert AUDIT_PERIOD_MS >= 365 * DAY_MS
    assert topic_configs("gigbridge-hub-__assignor-__leader", WINDOW_MS) == {"cleanup.policy": "compact"}
    # The dedupe log keeps twice the dedupe window, whatever the window is.
    topic = log_topic("gigbridge-hub", "platform.a1.sites")
    assert topic_configs(topic, 3_600_000) == log_topic_configs(3_600_000) == \
        {"cleanup.policy": "delete", "retention.ms": str(7_200_000)}


class FakeAdminClient:
    def __init__(self) -> None:
        self.created: dict[str, dict] = {}

    def list_topics(self):
        return []

    def create_topics(self, specs, raise_errors=True):
        self.created.update(specs)
        return {"topics": [{"name": name, "error_code": 0} for name in specs]}

    def wait_for_topics(self, topics, timeout_ms):
        pass

    def describe_topics(self, topics):
        return [{"name": name, "partitions": [{"partition": 0}]} for name in topics if name in self.created]

    def list_partition_offsets(self, specs, timeout_ms):  # TopicAdmin waits for new leaders with it
        return {tp: 0 for tp in specs}


def test_topic_admin_creates_each_topic_with_its_family_configs():
    admin = TopicAdmin(Settings(dedupe_window_s=600))
    admin._client = fake = FakeAdminClient()
    topics = [validated_topic("sites"), office_topic("4403", "sites"), "unrelated"]
    assert sorted(admin.ensure(topics)) == sorted(topics)
    assert {name: spec["configs"] for name, spec in fake.created.items()} == {
        name: topic_configs(name, 600_000) for name in topics}
    admin.ensure(["hub.dlq"], configs={"retention.ms": "1000"})  # explicit configs win
    assert fake.created["hub.dlq"]["configs"] == {"retention.ms": "1000"}


def test_worker_static_topics_all_have_a_family():
    settings = Settings(insurer_endpoints={"44": {"url": "http://127.0.0.1:1/claims", "secret": "s"}})
    topics = [validated_topic("sites"), DLQ_TOPIC]
    for route, _ in sink_routes(settings):
        topics += [*route.sources, route.receipts_topic, route.dlq_topic]
    assert all(family_of(t) is not None for t in topics), topics


@pytest.mark.kafka
def test_created_topics_carry_the_policy_on_a_real_broker(kafka):
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    tag = uuid.uuid4().hex[:8]
    topics = [office_topic(str(uuid.uuid4().int)[:9], "sites"), rejected_topic(f"p{tag}"),
              ingest_topic(f"p{tag}", "sites")]
    settings = hub_settings(kafka)
    admin = TopicAdmin(settings)
    try:
        admin.ensure(topics)
    finally:
        admin.close()
    client = KafkaAdminClient(**settings.kafka_python_config)
    try:
        described = client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    finally:
        client.close()
    got = _configs_by_topic(described)
    window_ms = int(settings.dedupe_window_s * 1000)
    for topic in topics:
        want = topic_configs(topic, window_ms)
        assert want and {k: got[topic][k] for k in want} == want, topic


def _configs_by_topic(described) -> dict[str, dict[str, str]]:
    """kafka-python's ``{resource type: {name: {key: {"value": ...}}}}`` as ``{name: {key: value}}``."""
    return {name: {key: data["value"] if isinstance(data, dict) else data for key, data in entries.items()}
            for by_name in described.values() for name, entries in by_name.items()}
