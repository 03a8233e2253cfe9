"""The console's read model on a real broker, connected as the hub principal with the ACLs of
deploy/access.yaml: records written to the followed topics -- before the feed starts and on a
topic created after it started -- appear in the view, and "data as of" becomes live. Without a
broker the feed says "unreachable"."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from kafka.admin import KafkaAdminClient
from pydantic import SecretStr

from connectors.console_feed import kafka_console_data
from gigbridge.access import DEFAULT_ACCESS_FILE, apply, dev_secret, load_access, resolve_secrets
from gigbridge.settings import Settings
from gigbridge.topics_admin import TopicAdmin
from tests.connectors.console_feed.test_fold import HEAT, example, wire
from tests.support.kafka_io import hub_settings, producer

RUN = uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def kafka(own_kafka):
    """A broker of this module's own: the feed reads every office and notice topic from the start
    (tests/conftest.py ``own_kafka``)."""
    return own_kafka


@pytest.fixture(scope="module")
def hub(kafka) -> Settings:
    """Settings of the hub principal, after ``gigbridge access apply --dev`` on the broker."""
    access = load_access(DEFAULT_ACCESS_FILE)
    admin = KafkaAdminClient(**kafka.kafka_python_config())
    try:
        apply(admin, access, resolve_secrets(access, env={}, dev=True), prune_undeclared=False,
              protected=[kafka.username])
    finally:
        admin.close()
    return hub_settings(kafka).model_copy(update={
        "kafka_username": access.hub.user, "kafka_password": SecretStr(dev_secret(access.hub.user)),
        "topic_discovery_interval_s": 1.0})


def write(kafka, records: list[tuple[str, bytes, bytes | None]]) -> None:
    admin = TopicAdmin(hub_settings(kafka))
    try:
        admin.ensure(sorted({topic for topic, _, _ in records}))
    finally:
        admin.close()
    out = producer(kafka)
    for topic, key, value in records:
        out.send(topic, key=key, value=value)
    out.flush(30)


async def until(condition, what: str, timeout_s: float = 20.0):
    """Poll ``condition`` (an async callable) until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while not (result := await condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
    return result


@pytest.mark.kafka
async def test_records_on_the_followed_topics_appear_in_the_view(kafka, hub):
    site = example("site_event", "opened_delivery_station", site_id=f"S-{RUN}", platform_id="swiftmeal")
    incident = example("incident_report", "dog_bite_at_handover", incident_id=f"I-{RUN}", platform_id="swiftmeal",
                       division_code="310101002000")
    case = example("case_state", "transferred_after_acceptance", case_id=str(uuid.uuid4()))
    notice = example("weather_notice", "heat_orange_shenzhen", expires=None)
    await asyncio.to_thread(write, kafka, [
        ("gov.office.310101.sites", b"s", wire("site_event", site)),
        ("hub.cases.state", case["case_id"].encode(), wire("case_state", case)),
        ("gov.notices.44", HEAT.encode(), wire("weather_notice", notice))])

    data, feed = kafka_console_data(hub)
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop))
    try:
        await until(lambda: data.sites(["310101"]), "the site written before the start")
        assert (await data.case(case["case_id"])).version == case["version"]
        assert [w.notice_id for w in await data.warnings(["440305"], int(time.time() * 1000))] == [HEAT]
        status = await until(lambda: _live(data), "the view to be live")
        assert status.as_of_ms is not None and status.lag_records == 0

        ack = example("incident_ack", "received_defaults", platform_id="swiftmeal", incident_id=incident["incident_id"],
                      unit_id="310101002-gov", event_id=str(uuid.uuid4()))
        await asyncio.to_thread(write, kafka, [  # the township's topic and the acks topic are new
            ("gov.office.310101002.incidents", b"s", wire("incident_report", incident)),
            ("platform.swiftmeal.incident-acks", b"a", wire("incident_ack", ack))])
        row = await until(lambda: _acked(data, incident["incident_id"]), "the incident on a topic created later")
        assert row.acks.steps == ("RECEIVED",) and row.worker_ref == incident["worker_ref"]
        assert feed.skipped == {}
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _live(data):
    status = data.freshness()
    return status if status.state == "live" else None


async def _acked(data, incident_id: str):
    row = await data.incident("swiftmeal", incident_id)
    return row if row is not None and row.acks is not None else None


async def test_without_a_broker_the_feed_says_unreachable():
    settings = Settings(kafka_bootstrap="127.0.0.1:9", kafka_security_protocol="PLAINTEXT",
                        console_stale_after_s=0.5)
    data, feed = kafka_console_data(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop))
    try:
        status = await until(lambda: _state(data, "unreachable"), "the unreachable state", timeout_s=10)
        assert status.as_of_ms is None
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _state(data, state: str):
    status = data.freshness()
    return status if status.state == state else None
