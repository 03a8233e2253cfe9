"""The cover stage on the real broker: orders in, days closed, then the stage restarted on a
fresh disk (its state restored from the compacted changelog) and on the old disk (the missing
suffix replayed), each time reading every input again in a new group: the WorkerDayCover and
statement totals stay exact (nothing counted twice), a late order gets version + 1, and an
insured incident gets exactly one IncidentCoverLink."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import pytest
from aiokafka import TopicPartition

from gigbridge.topics_admin import TopicAdmin
from schemas.catalog import default_catalog
from streams.runtime.cover_stage import CoverStage, cover_consumer, cover_inputs
from streams.runtime.writer import Writer, create_producer
from tests.support.cover_inputs import CLOSED, HOUR, NOON, PROVINCE, decoded, incident, order, ref
from tests.support.kafka_io import hub_settings, producer, read_all

pytestmark = pytest.mark.kafka


def send(kafka, platform, values, topic: str | None = None) -> dict:
    """Append ``values`` (orders unless ``topic`` says) keyed by the platform's province; returns
    the end offset per partition."""
    p, ends = producer(kafka), {}
    try:
        for value in values:
            meta = p.send(topic or cover_inputs()[0], value, key=f"{platform}:{PROVINCE}".encode()).get(timeout=30)
            ends[(meta.topic, meta.partition)] = meta.offset + 1
    finally:
        p.close()
    return ends


async def run_stage(settings, group, ends: dict, now_ms: int) -> int:
    """Run a stage until ``group`` committed ``ends``, then close the due days; returns what it emitted."""
    admin = TopicAdmin(settings)
    writer = Writer(lambda: create_producer(settings), admin)
    stage = CoverStage(settings, default_catalog(), writer, admin, lambda: now_ms, contextlib.nullcontext,
                       consumer=cover_consumer(settings, group))
    stage.open()
    task = asyncio.ensure_future(stage.loop.run())
    try:
        deadline = time.monotonic() + 90
        while not await committed(stage.loop.consumer, ends):  # the stage's own view: no admin requests
            assert time.monotonic() < deadline, f"{group} did not commit every input"
            await asyncio.sleep(0.2)  # a poll interval, not a wait for a result
        return await stage.step.close_due()
    finally:
        await stage.loop.stop()
        await task
        await stage.close()
        await writer.stop()


async def committed(consumer, ends: dict) -> bool:
    if consumer.client is None or not consumer.assignment():
        return False
    for (topic, partition), end in ends.items():
        if (await consumer.committed(TopicPartition(topic, partition)) or 0) < end:
            return False
    return True


def outputs(kafka, platform, topic):
    return [r for r in decoded(m.value for m in read_all(kafka, topic)) if r["platform_id"] == platform]


@pytest.fixture(scope="module")
def kafka(own_kafka):
    """A broker of this module's own (the cover stage reads hub.validated.orders from the start, where the session broker holds the orders of every earlier test, whose days it would close and count; tests/conftest.py ``own_kafka``)."""
    return own_kafka


def test_restart_on_a_fresh_disk_and_a_replay_count_nothing_twice(kafka, tmp_path):
    app, platform = f"cover-{uuid.uuid4().hex[:6]}", f"cv{uuid.uuid4().hex[:6]}"
    settings = hub_settings(kafka, app_id=app, data_dir=tmp_path / "first")
    TopicAdmin(settings).ensure(cover_inputs(), 2)
    ends = send(kafka, platform, [order(1, "w1", platform=platform), order(2, "w1", platform=platform),
                                  order(3, "w2", platform=platform), order(1, "w1", platform=platform)])
    assert asyncio.run(run_stage(settings, f"{app}-cover", ends, CLOSED)) == 3  # two days, one statement
    cover_topic, statements_topic = f"gov.insurance.{PROVINCE}.cover", f"platform.{platform}.statements"

    # A fresh disk: the state comes from the changelog; every input is read again (new group),
    # then a late order for w1 amends its day and the statement, and an insured incident on w2's
    # order (counted before the restart) is linked to that order's worker-day.
    ends = send(kafka, platform, [order(4, "w1", platform=platform)])
    ends |= send(kafka, platform, [incident(1, "w2", order_n=3, platform=platform)], cover_inputs()[1])
    fresh = hub_settings(kafka, app_id=app, data_dir=tmp_path / "fresh")
    assert asyncio.run(run_stage(fresh, f"{app}-replay-1", ends, CLOSED + HOUR)) == 0
    days = {(d["worker_ref"], d["version"]): (d["orders"], d["premium_fen"])
            for d in outputs(kafka, platform, cover_topic)}
    assert days == {(ref("w1"), 1): (2, 8), (ref("w2"), 1): (1, 4), (ref("w1"), 2): (3, 12)}
    statements = [(s["version"], s["orders"], s["workers"], s["premium_fen"])
                  for s in outputs(kafka, platform, statements_topic)]
    assert statements == [(1, 3, 2, 12), (2, 4, 2, 16)]
    links_topic = f"gov.insurance.{PROVINCE}.cover-links"
    [link] = outputs(kafka, platform, links_topic)
    assert (link["incident_id"], link["worker_ref"], link["matched_by"], link["order_ref"], link["cover_version"]) == \
        ("INC-1", ref("w2"), "ORDER", ref("order-3"), 1)
    assert outputs(kafka, platform, f"platform.{platform}.cover-links") == [link]

    # The old disk missed the late order: the changelog's suffix brings it up to date.
    assert asyncio.run(run_stage(settings, f"{app}-replay-2", ends, CLOSED + 2 * HOUR)) == 0
    assert len(outputs(kafka, platform, cover_topic)) == 3 and len(outputs(kafka, platform, statements_topic)) == 2
    assert len(outputs(kafka, platform, links_topic)) == 1  # the incident was decided: no second link
    assert NOON < CLOSED
