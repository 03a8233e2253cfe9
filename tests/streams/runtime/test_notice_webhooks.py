"""A platform's notice webhook: the notice flows copy each WeatherNotice record to the webhook
topics of the concerned platforms that have one; on the batch loop with the in-memory broker and
the in-repo simulated endpoint over real HTTP, each record there is posted signed, with the
idempotency key ``<notice_id>/<revision>/<province>``, retried through an outage, receipted before
its offset is committed; a re-sent record is a duplicate at the endpoint, not a second notice."""

from __future__ import annotations

import asyncio
import contextlib

from connectors.sinks.http import HttpSink
from gigbridge.devtools.sim_endpoint import SimEndpoint
from gigbridge.settings import Settings
from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from streams.runtime.broker.memory import MemoryBroker
from streams.runtime.broker.protocols import TopicPartition
from streams.runtime.broker.protocols import Record
from streams.runtime.delivery import NOTICE_RECEIPTS, notice_webhook_topic, sink_routes
from streams.runtime.delivery_step import delivery_loop
from streams.runtime.notices.flows import NoticeStep
from tests.streams.runtime.test_notice_incident_steps import flows
from tests.streams.runtime.test_notice_steps import NOTICE, NOW, wire
from tests.support.aio import no_wait, until

CATALOG = default_catalog()
SECRET = "notice-webhook-secret-0123456789"
TOPIC = notice_webhook_topic("alpha")


def never_filtered(route, record):
    raise AssertionError("a notice webhook must not go through the personal-data policy")


def test_a_notice_is_copied_for_concerned_platforms_with_a_webhook_only():
    steps, incidents, _ = flows()  # alpha and beta have open sites in the notice's area, gamma elsewhere
    step = NoticeStep(steps, incidents, None, None, lambda: NOW, frozenset({"alpha", "gamma"}))
    value = wire("weather_notice", NOTICE)
    out = step.one(Record("gov.notices.44", 0, 3, b"n-1", value, NOW), NOW)
    copies = [d for d in out if d.topic.startswith("gov.notices.webhooks.")]
    assert [(d.topic, d.key, d.value) for d in copies] == [(notice_webhook_topic("alpha"), b"n-1", value)]


def test_each_notice_revision_is_posted_signed_once_through_an_outage():
    async def scenario():
        async with SimEndpoint(secret=SECRET) as endpoint:
            settings = Settings(platform_notice_webhooks={"alpha": {
                "url": endpoint.webhook_url, "secret": SECRET}},
                stream_batch_size=2, stream_batch_timeout_s=0.01)
            [(route, webhook)] = sink_routes(settings)
            assert (route.destination, route.sources) == ("notices-alpha", (TOPIC,))
            broker = MemoryBroker()
            broker.create_topic(TOPIC, 1)
            schema = CATALOG.contract("weather_notice").latest
            update = {**NOTICE, "revision": 1, "msg_type": "UPDATE", "level": "RED"}
            for record in (NOTICE, update, NOTICE):  # the last one: a re-send of revision 0
                broker.append(TOPIC, 0, NOTICE["notice_id"].encode(), encode(schema, record))
            endpoint.set_mode("503", count=2)
            sink = HttpSink(webhook.url, webhook.secret.get_secret_value(), route.destination, sleep=no_wait)
            loop = delivery_loop(settings, route, webhook, CATALOG, broker.producer(), never_filtered,
                                 lambda: 1_780_272_000_000, lambda delivered, refused: None, contextlib.nullcontext,
                                 consumer=broker.consumer("hub-deliver-notices-alpha"), sink=sink)
            loop.sleep = loop.on_assigned.sleep = no_wait
            task = asyncio.ensure_future(loop.run())
            await until(lambda: broker.committed("hub-deliver-notices-alpha").get(TopicPartition(TOPIC, 0)) == 3,
                        "every offset committed")
            await loop.stop()
            await task
            receipts = [decode(CATALOG, r.value).record for r in broker.records(NOTICE_RECEIPTS)]
            return endpoint.received, endpoint.stats(), receipts

    received, stats, receipts = asyncio.run(scenario())
    assert [c["idempotency_key"] for c in received] == ["n-1/0/44", "n-1/1/44"]
    assert [c["payload"]["event"]["level"] for c in received] == ["ORANGE", "RED"]
    assert {c["payload"]["event_type"] for c in received} == {"weather_notice"}
    assert all(c["headers"].get("X-Gigbridge-Signature") for c in received)  # verified by the endpoint
    assert stats["duplicates"] == 1 and stats["by_status"]["503"] == 2
    assert [r["event_id"] for r in receipts] == ["n-1/0/44", "n-1/1/44", "n-1/0/44"]
    assert {r["destination"] for r in receipts} == {"notices-alpha"}
