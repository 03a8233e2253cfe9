"""The cover stage on the in-memory broker: orders close into WorkerDayCover and
PremiumStatement records at the grace, a late order amends (version + 1), a duplicate premium
is counted, an insured incident without an order becomes a CoverGap, one on a counted order
an IncidentCoverLink, a failed output is
emitted again with the same totals (the state keeps nothing that was not emitted), and a new
stage on the same disk replays every input without counting anything twice."""

from __future__ import annotations

import asyncio
import contextlib

from gigbridge.settings import Settings
from schemas.catalog import default_catalog
from streams.core.cover.cst import DAY_MS
from streams.core.topics import COVER_INCIDENTS_TOPIC, validated_topic
from streams.runtime import cover_metrics
from streams.runtime.broker.memory import MemoryBroker
from streams.runtime.cover_stage import CoverStage
from streams.runtime.cover_state.changelog import changelog_topic
from tests.support.aio import no_wait, until
from tests.support.cover_inputs import CLOSED, KEY, NOON, PLATFORM, PROVINCE, day_totals, decoded, incident, order, ref

ORDERS = validated_topic("orders")
COVER = f"gov.insurance.{PROVINCE}.cover"


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


async def _no_restore(partitions) -> None:  # same disk, nothing new in the changelog
    return None


def make_stage(broker, tmp_path, clock, group="cover"):
    settings = Settings(app_id="covertest", data_dir=tmp_path)
    stage = CoverStage(settings, default_catalog(), broker.producer(), broker.admin(), clock, contextlib.nullcontext,
                       consumer=broker.consumer(group), restore=_no_restore)
    stage.loop.sleep = no_wait
    stage.open()
    return stage


def committed_to_end(broker, group) -> bool:
    committed = broker.committed(group)
    return all(committed.get((t, p), 0) == broker.end_offset(t, p)
               for t in (ORDERS, COVER_INCIDENTS_TOPIC) for p in range(2))


async def run_until_committed(broker, stage, group="cover"):
    task = asyncio.ensure_future(stage.loop.run())
    await until(lambda: committed_to_end(broker, group), "every input committed")
    return task


async def started(tmp_path, orders=(), incidents=()):
    """A broker holding ``orders`` and ``incidents``, and a stage that committed all of them
    while its clock stood an hour after noon of the day."""
    broker, clock = setup_broker(), Clock(NOON + 3_600_000)
    produce(broker, ORDERS, *orders)
    produce(broker, COVER_INCIDENTS_TOPIC, *incidents)
    stage = make_stage(broker, tmp_path, clock)
    return broker, clock, stage, await run_until_committed(broker, stage)


async def stop(stage, task):
    await stage.loop.stop()
    await task
    await stage.close()


def values(broker, topic):
    return [r.value for r in broker.records(topic)] if topic in broker.logs else []


def setup_broker():
    broker = MemoryBroker(default_partitions=2)
    broker.create_topic(ORDERS, 2)
    broker.create_topic(COVER_INCIDENTS_TOPIC, 2)
    return broker


def produce(broker, topic, *values_):
    partition = 1  # what the key hashes to does not matter here: one partition holds the province
    for v in values_:
        broker.append(topic, partition, KEY, v)


def test_days_close_amend_and_survive_a_replay(tmp_path):
    async def scenario():
        broker, clock, stage, task = await started(  # the last order: a replay
            tmp_path, orders=[order(1, "w1"), order(2, "w1"), order(3, "w2"), order(1, "w1")])
        assert values(broker, COVER) == []  # the day is open
        clock.now = CLOSED
        assert await stage.step.close_due() == 3  # two worker-days and their statement
        assert day_totals(values(broker, COVER)) == {(ref("w1"), 1): (2, 8), (ref("w2"), 1): (1, 4)}
        statements = decoded(values(broker, f"platform.{PLATFORM}.statements"))
        assert [(s["version"], s["orders"], s["workers"], s["premium_fen"]) for s in statements] == [(1, 3, 2, 12)]
        assert decoded(values(broker, f"gov.insurance.{PROVINCE}.statements")) == statements

        duplicates = cover_metrics.DUPLICATE_PREMIUMS.labels(PLATFORM, PROVINCE)._value.get()
        produce(broker, ORDERS, order(4, "w1"), order(2, "w1", event="another-event-same-order"))
        await until(lambda: committed_to_end(broker, "cover"), "the late order committed")
        assert day_totals(values(broker, COVER))[(ref("w1"), 2)] == (3, 12)  # amended at once
        assert cover_metrics.DUPLICATE_PREMIUMS.labels(PLATFORM, PROVINCE)._value.get() == duplicates + 1
        assert await stage.step.close_due() == 0
        await stop(stage, task)

        # A new stage on the same disk, in a new group: every input is read again; nothing is
        # emitted or counted twice, and a later order still gets the next version.
        before = len(values(broker, COVER))
        stage = make_stage(broker, tmp_path, clock, group="cover-replay")
        task = await run_until_committed(broker, stage, "cover-replay")
        assert await stage.step.close_due() == 0 and len(values(broker, COVER)) == before
        produce(broker, ORDERS, order(5, "w2"))
        await until(lambda: committed_to_end(broker, "cover-replay"), "the order after the restart")
        assert day_totals(values(broker, COVER))[(ref("w2"), 2)] == (2, 8)
        await stop(stage, task)

    asyncio.run(scenario())


def test_an_insured_incident_without_its_order_becomes_a_gap_after_the_grace(tmp_path):
    async def scenario():
        broker, clock, stage, task = await started(
            tmp_path, orders=[order(1, "w1")], incidents=[incident(1, "w1", order_n=1), incident(2, "w1", order_n=9)])
        gaps = cover_metrics.COVER_GAPS.labels(PLATFORM, PROVINCE, "ORDER_NOT_COVERED")._value.get()
        clock.now = CLOSED
        await stage.step.close_due()
        for topic in (f"gov.insurance.{PROVINCE}.cover-gaps", f"platform.{PLATFORM}.cover-gaps"):
            assert [(g["incident_id"], g["gap"]) for g in decoded(values(broker, topic))] == \
                [("INC-2", "ORDER_NOT_COVERED")]
        assert cover_metrics.COVER_GAPS.labels(PLATFORM, PROVINCE, "ORDER_NOT_COVERED")._value.get() == gaps + 1
        await stop(stage, task)

    asyncio.run(scenario())


def test_an_insured_incident_on_a_counted_order_is_linked_once_even_after_a_replay(tmp_path):
    async def scenario():
        links = cover_metrics.COVER_LINKS.labels(PLATFORM, PROVINCE, "ORDER")._value.get()
        broker, clock, stage, task = await started(tmp_path, orders=[order(1, "w1")],
                                                   incidents=[incident(1, "w1", order_n=1)])
        clock.now = CLOSED
        await stage.step.close_due()  # linked in the batch or, if the incident came first, here
        insurer, platform = f"gov.insurance.{PROVINCE}.cover-links", f"platform.{PLATFORM}.cover-links"
        [link] = decoded(values(broker, insurer))
        assert decoded(values(broker, platform)) == [link]
        assert (link["incident_id"], link["matched_by"], link["order_ref"], link["cover_version"]) == \
            ("INC-1", "ORDER", ref("order-1"), 1)
        assert [r.key for r in broker.records(insurer)] == [f"{PLATFORM}:INC-1".encode()]
        assert cover_metrics.COVER_LINKS.labels(PLATFORM, PROVINCE, "ORDER")._value.get() == links + 1
        await stop(stage, task)

        stage = make_stage(broker, tmp_path, clock, group="cover-replay")  # same disk, every input again
        task = await run_until_committed(broker, stage, "cover-replay")
        await stage.step.close_due()
        assert len(values(broker, insurer)) == 1 and len(values(broker, platform)) == 1
        await stop(stage, task)

    asyncio.run(scenario())


def test_a_failed_output_keeps_nothing_and_the_batch_emits_the_same_records_again(tmp_path):
    async def scenario():
        broker, clock, stage, task = await started(tmp_path, orders=[order(1, "w1")])
        clock.now = CLOSED
        producer = stage.step.producer
        producer.fail_next = 1
        await asyncio.gather(stage.step.close_due(), return_exceptions=True)
        assert values(broker, COVER) == []
        assert await stage.step.close_due() == 2  # the day and the statement, again from the same state
        failed = {"armed": True}

        def fail_once(delivery):
            if delivery.topic == COVER and failed["armed"]:
                failed["armed"] = False
                return True
            return False
        producer.fail_when = fail_once
        produce(broker, ORDERS, order(2, "w1"))
        await until(lambda: committed_to_end(broker, "cover"), "the late order, after one failed output")
        assert day_totals(values(broker, COVER)) == {(ref("w1"), 1): (1, 4), (ref("w1"), 2): (2, 8)}
        await stop(stage, task)

    asyncio.run(scenario())


def test_the_close_tick_prunes_what_ended_before_the_retention_durably(tmp_path):
    async def scenario():
        broker, clock, stage, task = await started(tmp_path, orders=[order(1, "w1"), order(2, "w2")])
        state = stage.store.partition(1).state
        clock.now = CLOSED
        await stage.tick()  # closes the day; the first tick also prunes, but nothing is old enough
        assert len(dict(state.days)) == 2 and len(dict(state.orders)) == 2 and len(dict(state.statements)) == 1
        tombstones = sum(r.value is None for r in broker.records(changelog_topic("covertest")))

        clock.now = CLOSED + 50 * DAY_MS
        await stage.tick()  # a prune is due again, but 50 days are within the retention
        assert len(dict(state.days)) == 2
        clock.now = CLOSED + 101 * DAY_MS  # past the default retention of 100 days
        await stage.tick()
        assert dict(state.days) == {} and dict(state.orders) == {} and dict(state.statements) == {}
        # durable like any change: a tombstone per removed row (2 days, 2 orders, 1 statement)
        assert sum(r.value is None for r in broker.records(changelog_topic("covertest"))) == tombstones + 5
        await stop(stage, task)

    asyncio.run(scenario())
